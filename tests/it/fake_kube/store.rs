//! What clients applied, created and deleted, and the verbs on it. A collection is what was stored
//! plus what the cluster itself has (`controllers::synthesised`), each with the status the cluster
//! would have given it by now.

use serde_json::{Value, json};

use super::api::{Query, Reply, Route, already_exists, bad_request, conflict, details, not_found, status};
use super::controllers::{builtin_namespaces, planned_pods, synthesised, with_status};
use super::identity::{suffix, uid};
use super::view::{Ctx, rfc3339, scenario_f64};
use super::{Shared, State, Stored, chart, kubelet, selector};

pub(super) fn visible(ctx: &Ctx, s: &Stored) -> bool {
    s.cluster.is_empty() || ctx.running.contains(&s.cluster)
}

/// Every object of a collection (stored + synthesised), with kind and apiVersion.
pub(super) fn collection(ctx: &Ctx, state: &State, route: &Route, ns: Option<&str>) -> Vec<Value> {
    let stored_prefix = match ns {
        Some(_) => format!("{}/", route.collection_path()),
        None => format!("{}/", route.prefix),
    };
    let stored = state.objects.iter().filter(|(path, s)| visible(ctx, s) && path.starts_with(&stored_prefix)).filter(
        |(path, _)| {
            Route::parse(path)
                .is_some_and(|p| p.resource == route.resource && (ns.is_none() || p.namespace.as_deref() == ns))
        },
    );
    let mut out: Vec<Value> = stored.map(|(_, s)| with_status(ctx, state, s)).collect();
    out.extend(
        synthesised(ctx, state, &route.prefix, &route.resource)
            .into_iter()
            .filter(|obj| ns.is_none() || obj["metadata"]["namespace"].as_str() == ns),
    );
    for o in out.iter_mut() {
        if o["apiVersion"].is_null() {
            o["apiVersion"] = json!(route.api_version());
        }
        if o["kind"].is_null() {
            o["kind"] = json!(route.kind());
        }
    }
    let key = |o: &Value| {
        (
            o["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
            o["metadata"]["name"].as_str().unwrap_or("").to_string(),
        )
    };
    out.sort_by_key(key);
    out
}

pub(super) fn find(ctx: &Ctx, state: &State, route: &Route, name: &str) -> Option<Value> {
    let path = route.object_path(name);
    if let Some(s) = state.objects.get(&path).filter(|s| visible(ctx, s)) {
        let mut o = with_status(ctx, state, s);
        if o["kind"].is_null() {
            o["kind"] = json!(route.kind());
        }
        return Some(o);
    }
    collection(ctx, state, route, route.namespace.as_deref())
        .into_iter()
        .find(|o| o["metadata"]["name"].as_str() == Some(name))
}

fn namespace_exists(ctx: &Ctx, state: &State, ns: &str) -> bool {
    if builtin_namespaces(ctx).contains(&ns) {
        return true;
    }
    state.objects.get(&format!("/api/v1/namespaces/{ns}")).is_some_and(|s| visible(ctx, s))
}

fn list_kind(route: &Route, items: &[Value]) -> String {
    items.first().and_then(|i| i["kind"].as_str()).map(String::from).unwrap_or_else(|| route.kind()) + "List"
}

pub(super) fn list(ctx: &Ctx, state: &State, route: &Route, q: &Query) -> Reply {
    // a list in a namespace that does not exist is empty, as in the real API
    let items: Vec<Value> = collection(ctx, state, route, route.namespace.as_deref())
        .into_iter()
        .filter(|o| selector::selected(o, q))
        .collect();
    let kind = list_kind(route, &items);
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            if let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    Reply::Json(
        200,
        json!({"kind": kind, "apiVersion": route.api_version(), "metadata": {"resourceVersion": state.rv.max(1).to_string()}, "items": items}),
    )
}

pub(super) fn get_one(ctx: &Ctx, state: &State, route: &Route, name: &str) -> Reply {
    match find(ctx, state, route, name) {
        Some(o) => Reply::Json(200, o),
        None => not_found(route, name),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice::<Value>(body)
        .or_else(|_| serde_norway::from_slice::<Value>(body).map_err(|e| e.to_string()))
}

fn check_object(route: &Route, name: Option<&str>, obj: &Value) -> Result<(), Reply> {
    if !obj.is_object() {
        return Err(bad_request("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf".into()));
    }
    if obj["kind"].as_str().unwrap_or("").is_empty() {
        return Err(bad_request(format!("Object 'Kind' is missing in '{obj}'")));
    }
    match obj["apiVersion"].as_str() {
        Some(api) if api != route.api_version() => {
            return Err(bad_request(format!(
                "the API version in the data ({api}) does not match the expected API version ({})",
                route.api_version()
            )));
        }
        Some(_) => {}
        None => return Err(bad_request(format!("Object 'apiVersion' is missing in '{obj}'"))),
    }
    if let Some(name) = name
        && let Some(n) = obj["metadata"]["name"].as_str()
        && n != name
    {
        return Err(bad_request(format!("the name of the object ({n}) does not match the name on the URL ({name})")));
    }
    if let (Some(ns), Some(ons)) = (&route.namespace, obj["metadata"]["namespace"].as_str())
        && ns != ons
    {
        return Err(bad_request(
            "the namespace of the provided object does not match the namespace sent on the request".into(),
        ));
    }
    Ok(())
}

fn missing_namespace(ctx: &Ctx, state: &State, route: &Route) -> Option<Reply> {
    let ns = route.namespace.as_ref()?;
    (!namespace_exists(ctx, state, ns)).then(|| not_found(&Route::namespace(ns), ns))
}

/// The NamespaceLifecycle admission plugin's refusal to create anything in a namespace being
/// deleted (kubernetes v1.34.0 `plugin/pkg/admission/namespace/lifecycle/admission.go`:
/// `admission.NewForbidden(a, "unable to create new content in namespace %s because it is being
/// terminated")` with a `NamespaceTerminating` cause on `metadata.namespace`). Updates of
/// existing objects pass; a server-side apply that creates counts as a create.
fn terminating_namespace(state: &State, route: &Route, name: &str) -> Option<Reply> {
    let ns = route.namespace.as_ref().filter(|ns| state.terminating.contains_key(*ns))?;
    let message = format!("unable to create new content in namespace {ns} because it is being terminated");
    Some(status(
        403,
        "Forbidden",
        format!("{} \"{name}\" is forbidden: {message}", route.qualified()),
        json!({"name": name, "kind": route.resource, "causes": [{
            "reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"),
            "field": "metadata.namespace"
        }]}),
    ))
}

/// Namespaces whose contents are gone go too (the namespace controller removes the `kubernetes`
/// finalizer once it has deleted everything in it: kubernetes v1.34.0
/// `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`).
pub(super) fn purge_terminated(ctx: &Ctx, state: &mut State) {
    let gone: Vec<String> =
        state.terminating.iter().filter(|(_, at)| ctx.now >= **at).map(|(ns, _)| ns.clone()).collect();
    for ns in gone {
        state.terminating.remove(&ns);
        state.objects.remove(&format!("/api/v1/namespaces/{ns}"));
        state.rv += 1;
    }
}

/// Who writes an object, and how.
struct Write<'a> {
    manager: &'a str,
    /// `Apply` or `Update`, as managedFields records it.
    operation: &'a str,
    dry_run: bool,
}

/// Stores obj at its path; returns (the object as returned, created?).
fn store(ctx: &Ctx, state: &mut State, route: &Route, name: &str, mut obj: Value, write: Write) -> (Value, bool) {
    let path = route.object_path(name);
    let existing = state.objects.get(&path).filter(|s| visible(ctx, s)).cloned();
    let t = ctx.now;
    state.rv += 1;
    let rv = state.rv;
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["name"] = json!(name);
    if let Some(ns) = &route.namespace {
        obj["metadata"]["namespace"] = json!(ns);
    }
    let spec_of = |o: &Value| {
        let mut o = o.clone();
        if let Some(m) = o.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        o
    };
    let (created, since, generation) = match &existing {
        Some(e) => {
            let changed = spec_of(&e.obj) != spec_of(&obj);
            let g = e.obj["metadata"]["generation"].as_i64().unwrap_or(1) + i64::from(changed);
            (false, if changed { t } else { e.since }, g)
        }
        None => (true, t, 1),
    };
    let (uid_v, created_at) = match &existing {
        Some(e) => (e.obj["metadata"]["uid"].clone(), e.obj["metadata"]["creationTimestamp"].clone()),
        None => (json!(uid(&format!("{path}/{rv}"))), json!(rfc3339(t))),
    };
    obj["metadata"]["uid"] = uid_v;
    obj["metadata"]["creationTimestamp"] = created_at;
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    obj["metadata"]["generation"] = json!(generation);
    if obj["status"].is_null()
        && let Some(e) = &existing
        && !e.obj["status"].is_null()
    {
        obj["status"] = e.obj["status"].clone();
    }
    obj["metadata"]["managedFields"] = json!([{
        "manager": write.manager, "operation": write.operation, "apiVersion": route.api_version(),
        "time": rfc3339(t), "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}
    }]);
    if write.dry_run {
        return (obj, created);
    }
    let cluster = existing.as_ref().map(|e| e.cluster.clone()).unwrap_or_else(|| ctx.current_cluster());
    state.objects.insert(path.clone(), Stored { obj, cluster, since });
    let mut out = with_status(ctx, state, &state.objects[&path]);
    if out["kind"].is_null() {
        out["kind"] = json!(route.kind());
    }
    (out, created)
}

pub(super) fn patch(
    ctx: &Ctx,
    state: &mut State,
    route: &Route,
    name: &str,
    q: &Query,
    body: &[u8],
    ct: &str,
) -> Reply {
    let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let is_apply = ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor";
    let Some(manager) =
        q.get("fieldManager").filter(|m| !m.is_empty()).or_else(|| (!is_apply).then_some("kubectl-patch"))
    else {
        return status(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
                .into(),
            json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]}),
        );
    };
    if !is_apply && !matches!(ct.as_str(), "application/merge-patch+json" | "application/strategic-merge-patch+json") {
        return status(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct})"
            ),
            json!({}),
        );
    }
    let body = match parse_body(body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("error decoding patch: {e}")),
    };
    if let Some(reply) = missing_namespace(ctx, state, route) {
        return reply;
    }
    let existing = state.objects.get(&route.object_path(name)).filter(|s| visible(ctx, s)).cloned();
    if existing.is_none()
        && let Some(reply) = terminating_namespace(state, route, name)
    {
        return reply;
    }
    let dry_run = q.dry_run();
    if !is_apply {
        let Some(e) = existing else {
            return scale_synthesised(ctx, state, route, name, &body).unwrap_or_else(|| not_found(route, name));
        };
        let mut obj = e.obj;
        json_patch::merge(&mut obj, &body);
        let (out, _) = store(ctx, state, route, name, obj, Write { manager, operation: "Update", dry_run });
        return Reply::Json(200, out);
    }
    if let Err(reply) = check_object(route, Some(name), &body) {
        return reply;
    }
    let mut obj = body;
    if route.sub.as_deref() == Some("status") {
        let Some(e) = &existing else { return not_found(route, name) };
        let mut merged = e.obj.clone();
        merged["status"] = obj["status"].clone();
        obj = merged;
    } else if let Some(e) = &existing
        && obj["status"].is_null()
    {
        // the status is the controllers', not the applier's
        obj["status"] = e.obj["status"].clone();
    }
    let (out, created) = store(ctx, state, route, name, obj, Write { manager, operation: "Apply", dry_run });
    Reply::Json(if created { 201 } else { 200 }, out)
}

/// A merge patch of `spec.replicas` on one of the chart's Deployments or StatefulSets (what
/// `kubectl scale` changes): recorded, and its pods follow (`chart::workload_pods`). Scaled up
/// from 0, it gets a new pod.
fn scale_synthesised(ctx: &Ctx, state: &mut State, route: &Route, name: &str, body: &Value) -> Option<Reply> {
    if !matches!(route.resource.as_str(), "deployments" | "statefulsets") {
        return None;
    }
    let ns = route.namespace.clone().unwrap_or_default();
    let was = chart::replicas(ctx, state, &ns, name)?;
    let Some(replicas) = body["spec"]["replicas"].as_i64() else {
        return Some(bad_request("FakeKube scales the chart's workloads only by `spec.replicas`".into()));
    };
    let replicas = replicas as i32;
    state.scaled.insert((ns.clone(), name.to_string()), (ctx.now, replicas));
    if was == 0 && replicas > 0 {
        let entry = state.restarts.entry((ns, name.to_string())).or_insert((0.0, 0));
        *entry = (ctx.now, entry.1 + 1);
    }
    state.rv += 1;
    Some(find(ctx, state, route, name).map_or_else(|| not_found(route, name), |o| Reply::Json(200, o)))
}

pub(super) fn create(ctx: &Ctx, state: &mut State, route: &Route, q: &Query, body: &[u8]) -> Reply {
    let obj = match parse_body(body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("error decoding body: {e}")),
    };
    if let Err(reply) = check_object(route, None, &obj) {
        return reply;
    }
    if let Some(reply) = missing_namespace(ctx, state, route) {
        return reply;
    }
    let name = match (obj["metadata"]["name"].as_str(), obj["metadata"]["generateName"].as_str()) {
        (Some(n), _) => n.to_string(),
        (None, Some(g)) => format!("{g}{}", suffix(&format!("{g}{}", state.rv), 5)),
        (None, None) => {
            return status(
                422,
                "Invalid",
                format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    route.kind()
                ),
                json!({}),
            );
        }
    };
    if find(ctx, state, route, &name).is_some() {
        return already_exists(route, &name);
    }
    if let Some(reply) = terminating_namespace(state, route, &name) {
        return reply;
    }
    let manager = q.get("fieldManager").unwrap_or("unknown");
    let (out, _) = store(ctx, state, route, &name, obj, Write { manager, operation: "Update", dry_run: q.dry_run() });
    Reply::Json(201, out)
}

pub(super) fn replace(ctx: &Ctx, state: &mut State, route: &Route, name: &str, q: &Query, body: &[u8]) -> Reply {
    let obj = match parse_body(body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("error decoding body: {e}")),
    };
    if let Err(reply) = check_object(route, Some(name), &obj) {
        return reply;
    }
    let Some(existing) = state.objects.get(&route.object_path(name)).filter(|s| visible(ctx, s)).cloned() else {
        return not_found(route, name);
    };
    if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
        && existing.obj["metadata"]["resourceVersion"].as_str() != Some(rv)
    {
        return conflict(route, name);
    }
    let manager = q.get("fieldManager").unwrap_or("unknown");
    let (out, _) = store(ctx, state, route, name, obj, Write { manager, operation: "Update", dry_run: q.dry_run() });
    Reply::Json(200, out)
}

pub(super) fn delete(sh: &Shared, ctx: &Ctx, state: &mut State, route: &Route, name: &str) -> Reply {
    let path = route.object_path(name);
    let is_namespace = route.resource == "namespaces" && route.prefix == "/api/v1";
    if is_namespace && builtin_namespaces(ctx).contains(&name) {
        return status(
            403,
            "Forbidden",
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            details(route, name),
        );
    }
    if is_namespace && state.terminating.contains_key(name) {
        // kubernetes v1.34.0 pkg/registry/core/namespace/storage/storage.go, `Delete`: a namespace
        // that already has a deletionTimestamp and finalizers is not deleted again.
        return status(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on namespaces \"{name}\": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."
            ),
            details(route, name),
        );
    }
    if let Some(s) = state.objects.get(&path).filter(|s| visible(ctx, s)).cloned() {
        let mut out = with_status(ctx, state, &s);
        if is_namespace {
            // The namespace stays, Terminating, while the namespace controller deletes its
            // contents; it goes when they are gone (storage.go `Delete` sets deletionTimestamp
            // and the phase; `purge_terminated`). Here the contents go at once and the namespace
            // after scenario `namespace_terminating_s` (default 1).
            let inner = format!("/namespaces/{name}/");
            state.objects.retain(|p, _| !p.contains(&inner));
            state.restarts.retain(|(ns, _), _| ns != name);
            state.scaled.retain(|(ns, _), _| ns != name);
            sh.forget_releases_in(ctx, name);
            out["metadata"]["deletionTimestamp"] = json!(rfc3339(ctx.now));
            out["spec"] = json!({"finalizers": ["kubernetes"]});
            out["status"] = json!({"phase": "Terminating"});
            let stored = state.objects.get_mut(&path).expect("found above");
            stored.obj["metadata"]["deletionTimestamp"] = out["metadata"]["deletionTimestamp"].clone();
            stored.obj["spec"] = out["spec"].clone();
            stored.obj["status"] = out["status"].clone();
            let after = scenario_f64(&ctx.scenario, "namespace_terminating_s", 1.0);
            state.terminating.insert(name.to_string(), ctx.now + after);
        } else {
            state.objects.remove(&path);
            if matches!(route.resource.as_str(), "statefulsets" | "deployments") {
                state.restarts.remove(&(route.namespace.clone().unwrap_or_default(), name.to_string()));
            }
        }
        state.rv += 1;
        return Reply::Json(200, out);
    }
    delete_synthesised(ctx, state, route, name).unwrap_or_else(|| not_found(route, name))
}

/// A pod of a workload comes back (a new one, its restart counted); a chart's job stays gone
/// until the release rolls again.
fn delete_synthesised(ctx: &Ctx, state: &mut State, route: &Route, name: &str) -> Option<Reply> {
    let ns = route.namespace.clone().unwrap_or_default();
    let out = match (route.prefix.as_str(), route.resource.as_str()) {
        ("/api/v1", "pods") => {
            let p = planned_pods(ctx, state).into_iter().find(|p| p.name == name && p.ns == ns)?;
            let out = kubelet::pod_json(ctx, &p);
            if p.job.is_none() {
                let owner = p.keys.get(1).cloned().unwrap_or_else(|| p.keys[0].clone());
                let entry = state.restarts.entry((ns, owner)).or_insert((0.0, 0));
                entry.0 = ctx.now;
                entry.1 += 1;
            }
            out
        }
        ("/apis/batch/v1", "jobs") => {
            let r =
                ctx.releases.iter().find(|r| r.ns == ns && chart::release_jobs(r).iter().any(|j| j.name == name))?;
            let out = find(ctx, state, route, name).unwrap_or(json!({}));
            state.deleted_jobs.insert(format!("{ns}/{name}@{}", r.rolled_at));
            out
        }
        _ => return None,
    };
    state.rv += 1;
    Some(Reply::Json(200, out))
}

pub(super) fn delete_collection(sh: &Shared, ctx: &Ctx, state: &mut State, route: &Route, q: &Query) -> Reply {
    let items: Vec<Value> = collection(ctx, state, route, route.namespace.as_deref())
        .into_iter()
        .filter(|o| selector::selected(o, q))
        .collect();
    let mut deleted = Vec::new();
    for o in items {
        let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = o["metadata"]["namespace"].as_str().map(String::from);
        let r = Route { namespace: ns.or(route.namespace.clone()), name: Some(name.clone()), ..route.clone() };
        if let Reply::Json(200, v) = delete(sh, ctx, state, &r, &name) {
            deleted.push(v);
        }
    }
    Reply::Json(
        200,
        json!({"kind": list_kind(route, &deleted), "apiVersion": route.api_version(), "metadata": {"resourceVersion": state.rv.to_string()}, "items": deleted}),
    )
}
