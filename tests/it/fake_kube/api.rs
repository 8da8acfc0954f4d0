//! The API's surface: what a path names, the query, the Status answers, discovery, and which verb
//! of the store a request is.

use serde_json::{Value, json};

use super::Shared;
use super::store;

// ------------------------------------------------------------------------------------------ routes

#[derive(Clone, Debug)]
pub(super) struct Route {
    /// "/api/v1" or "/apis/apps/v1"
    pub(super) prefix: String,
    pub(super) group: String,
    pub(super) version: String,
    pub(super) namespace: Option<String>,
    pub(super) resource: String,
    pub(super) name: Option<String>,
    pub(super) sub: Option<String>,
}

impl Route {
    pub(super) fn parse(path: &str) -> Option<Route> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        let (prefix, group, version, rest) = match segs.as_slice() {
            ["api", v, rest @ ..] => (format!("/api/{v}"), String::new(), v.to_string(), rest),
            ["apis", g, v, rest @ ..] => (format!("/apis/{g}/{v}"), g.to_string(), v.to_string(), rest),
            _ => return None,
        };
        let s = |i: usize| rest.get(i).map(|x| x.to_string());
        if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
            Some(Route {
                prefix,
                group,
                version,
                namespace: s(1),
                resource: rest[2].to_string(),
                name: s(3),
                sub: s(4),
            })
        } else if !rest.is_empty() {
            Some(Route {
                prefix,
                group,
                version,
                namespace: None,
                resource: rest[0].to_string(),
                name: s(1),
                sub: s(2),
            })
        } else {
            None
        }
    }

    /// The route of a namespace object, for the NotFound of a missing namespace.
    pub(super) fn namespace(name: &str) -> Route {
        Route::parse(&format!("/api/v1/namespaces/{name}")).expect("a namespace's path")
    }

    pub(super) fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    pub(super) fn collection_path(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/namespaces/{ns}/{}", self.prefix, self.resource),
            None => format!("{}/{}", self.prefix, self.resource),
        }
    }

    pub(super) fn object_path(&self, name: &str) -> String {
        format!("{}/{name}", self.collection_path())
    }

    /// `pods`, `statefulsets.apps`: how the API names the resource in its messages.
    pub(super) fn qualified(&self) -> String {
        if self.group.is_empty() { self.resource.clone() } else { format!("{}.{}", self.resource, self.group) }
    }

    pub(super) fn kind(&self) -> String {
        kind_of(&self.resource)
    }
}

fn kind_of(resource: &str) -> String {
    let known = [
        ("pods", "Pod"),
        ("jobs", "Job"),
        ("cronjobs", "CronJob"),
        ("namespaces", "Namespace"),
        ("nodes", "Node"),
        ("persistentvolumes", "PersistentVolume"),
        ("persistentvolumeclaims", "PersistentVolumeClaim"),
        ("secrets", "Secret"),
        ("services", "Service"),
        ("configmaps", "ConfigMap"),
        ("statefulsets", "StatefulSet"),
        ("deployments", "Deployment"),
        ("replicasets", "ReplicaSet"),
        ("daemonsets", "DaemonSet"),
        ("events", "Event"),
        ("serviceaccounts", "ServiceAccount"),
        ("storageclasses", "StorageClass"),
        ("endpoints", "Endpoints"),
        ("ingresses", "Ingress"),
        ("networkpolicies", "NetworkPolicy"),
        ("roles", "Role"),
        ("rolebindings", "RoleBinding"),
        ("clusterroles", "ClusterRole"),
        ("clusterrolebindings", "ClusterRoleBinding"),
    ];
    if let Some((_, kind)) = known.iter().find(|(r, _)| *r == resource) {
        return kind.to_string();
    }
    let singular = resource.strip_suffix('s').unwrap_or(resource);
    let mut c = singular.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

// ------------------------------------------------------------------------------------------ the query

/// A request's query, every `key=value` in order (`command=sh&command=-c` keeps both).
#[derive(Clone, Debug, Default)]
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(query: &str) -> Query {
        Query(form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    /// The last value of a key: what the API server reads for a single-valued parameter.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every (key, value), in order.
    pub(super) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Every value of a key, in order.
    pub(super) fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    pub(super) fn truthy(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v == "true" || v == "1")
    }

    pub(super) fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

// ------------------------------------------------------------------------------------------ answers

pub(super) enum Reply {
    Json(u16, Value),
    Text(u16, String),
}

/// What a request becomes: an answer, or a watch to stream.
pub(super) enum Routed {
    Reply(Reply),
    Watch(Route, Query),
    /// A followed log: what is there, then more as it comes.
    Follow(super::logs::Followed),
}

pub(super) fn status(code: u16, reason: &str, message: String, details: Value) -> Reply {
    Reply::Json(
        code,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "details": details, "code": code
        }),
    )
}

pub(super) fn details(route: &Route, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": route.resource});
    if !route.group.is_empty() {
        d["group"] = json!(route.group);
    }
    d
}

pub(super) fn not_found(route: &Route, name: &str) -> Reply {
    status(404, "NotFound", format!("{} \"{name}\" not found", route.qualified()), details(route, name))
}

pub(super) fn already_exists(route: &Route, name: &str) -> Reply {
    status(409, "AlreadyExists", format!("{} \"{name}\" already exists", route.qualified()), details(route, name))
}

pub(super) fn conflict(route: &Route, name: &str) -> Reply {
    status(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            route.qualified()
        ),
        details(route, name),
    )
}

pub(super) fn bad_request(message: String) -> Reply {
    status(400, "BadRequest", message, json!({}))
}

/// What every request gets while no cluster of the fake runs.
pub(super) fn unavailable() -> Reply {
    status(
        503,
        "ServiceUnavailable",
        "the server is currently unable to handle the request (no cluster of the fake API server is running)".into(),
        json!({}),
    )
}

// ------------------------------------------------------------------------------------------ routing

/// One request into the API.
pub(super) fn route(sh: &Shared, method: &str, path: &str, q: &Query, body: &[u8], ct: &str) -> Routed {
    let ctx = sh.ctx();
    if !ctx.api_up {
        return Routed::Reply(unavailable());
    }
    if let Some(reply) = discovery(&ctx, path.trim_end_matches('/')) {
        return Routed::Reply(reply);
    }
    let Some(route) = Route::parse(path) else {
        return Routed::Reply(status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        ));
    };
    let mut state = sh.state.lock().unwrap();
    let state = &mut *state;
    store::purge_terminated(&ctx, state);
    let reply = match (method, &route.name, route.sub.as_deref()) {
        ("GET", Some(name), Some("log")) if route.resource == "pods" => {
            match super::logs::logs(&ctx, state, &route, name, q) {
                Reply::Text(200, text) if q.truthy("follow") => {
                    return Routed::Follow(super::logs::Followed::new(text, &ctx.scenario));
                }
                reply => reply,
            }
        }
        ("GET" | "POST", Some(_), Some("exec" | "attach" | "portforward")) if route.resource == "pods" => {
            bad_request("Upgrade request required".into())
        }
        ("GET", Some(name), Some("status")) | ("GET", Some(name), None) => store::get_one(&ctx, state, &route, name),
        ("GET", None, _) if q.truthy("watch") => return Routed::Watch(route, q.clone()),
        ("GET", None, _) => store::list(&ctx, state, &route, q),
        ("PATCH", Some(name), None | Some("status")) => store::patch(&ctx, state, &route, name, q, body, ct),
        ("POST", None, _) => store::create(&ctx, state, &route, q, body),
        ("PUT", Some(name), None | Some("status")) => store::replace(&ctx, state, &route, name, q, body),
        ("DELETE", Some(name), None) => store::delete(sh, &ctx, state, &route, name),
        ("DELETE", None, _) => store::delete_collection(sh, &ctx, state, &route, q),
        _ => status(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method} {path})"),
            json!({}),
        ),
    };
    Routed::Reply(reply)
}

/// `/version`, the health checks and the group lists.
fn discovery(ctx: &super::view::Ctx, path: &str) -> Option<Reply> {
    match path {
        "/version" => {
            let v = ctx.clusters.iter().find(|c| c.up).map(|c| c.kubelet_version.clone()).unwrap_or("v1.36.4".into());
            let mut parts = v.trim_start_matches('v').split(['.', '+']);
            let major = parts.next().unwrap_or("1").to_string();
            let minor = parts.next().unwrap_or("36").to_string();
            Some(Reply::Json(
                200,
                json!({
                    "major": major, "minor": minor, "gitVersion": v, "gitCommit": "0000000000000000000000000000000000000000",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.5",
                    "compiler": "gc", "platform": "linux/amd64"
                }),
            ))
        }
        "/healthz" | "/readyz" | "/livez" => Some(Reply::Text(200, "ok".into())),
        "/api" => Some(Reply::Json(
            200,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}]}),
        )),
        "/apis" => {
            let groups: Vec<Value> = [
                ("apps", "v1"),
                ("batch", "v1"),
                ("storage.k8s.io", "v1"),
                ("rbac.authorization.k8s.io", "v1"),
                ("networking.k8s.io", "v1"),
            ]
            .iter()
            .map(|(g, v)| {
                let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
            })
            .collect();
            Some(Reply::Json(200, json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})))
        }
        _ => None,
    }
}
