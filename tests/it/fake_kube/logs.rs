//! `GET .../pods/{name}/log`: the scenario's `logs` / `previous_logs`, or a few lines of the
//! component's own, with the kubelet's refusals for a container that has not started.

use std::time::Duration;

use hyper::body::{Bytes, Frame};
use hyper::{Response, header};
use serde_json::{Value, json};

use super::State;
use super::api::{Query, Reply, Route, bad_request, not_found};
use super::server::{Body, streamed};
use super::store::find;
use super::view::{Ctx, rfc3339_nano};

/// A followed log (`follow=true`): the kubelet sends what the container wrote, then each line as
/// it is written, for as long as the container runs, and a quiet container means a quiet
/// connection (kubernetes v1.34.0 `pkg/kubelet/kuberuntime/logs/logs.go`, `ReadLogs`, which
/// waits on the file for more; the only limit is the kubelet's `streamingConnectionIdleTimeout`,
/// 4 h by default). Scenario `follow_logs`: `{"silent_s": 60, "then": "a line"}`: after what is
/// there, that long without a byte, then that line; the stream stays open until the client goes.
pub(super) struct Followed {
    text: String,
    silent: Duration,
    then: Option<String>,
}

impl Followed {
    pub(super) fn new(text: String, scenario: &Value) -> Followed {
        let follow = &scenario["follow_logs"];
        Followed {
            text,
            silent: Duration::from_secs_f64(follow["silent_s"].as_f64().unwrap_or(0.0)),
            then: follow["then"].as_str().map(|line| format!("{line}\n")),
        }
    }

    pub(super) fn stream(self) -> Response<Body> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        tokio::spawn(async move {
            if tx.send(Bytes::from(self.text)).await.is_err() {
                return;
            }
            if let Some(then) = self.then {
                tokio::time::sleep(self.silent).await;
                if tx.send(Bytes::from(then)).await.is_err() {
                    return;
                }
            }
            // the container runs on: the stream stays open, silent, until the client leaves
            while !tx.is_closed() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let body = streamed(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (Ok(Frame::data(chunk)), rx))
        }));
        Response::builder().header(header::CONTENT_TYPE, "text/plain").body(body).expect("a log response")
    }
}

fn default_logs(component: &str, previous: bool) -> String {
    if previous {
        return format!(
            "[2026-01-01T00:00:00.000+0000] {{{component}.py:1}} INFO - Starting the {component}\nTraceback (most recent call last):\n  File \"/home/airflow/.local/bin/airflow\", line 8, in <module>\n    sys.exit(main())\nRuntimeError: {component} exited\n"
        );
    }
    format!(
        "[2026-01-01T00:00:00.000+0000] {{{component}.py:1}} INFO - Starting the {component}\n[2026-01-01T00:00:01.000+0000] {{{component}.py:2}} INFO - {component} is running\n[2026-01-01T00:00:02.000+0000] {{{component}.py:3}} INFO - heartbeat\n"
    )
}

fn names_of(pod: &Value, key: &str) -> Vec<String> {
    pod["spec"][key].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str().map(String::from)).collect()
}

/// The container a request names, or the pod's only one (kubernetes `pkg/registry/core/pod/
/// strategy.go`, `LogLocation` and `streamLocation`, whose message for several containers also
/// lists the init containers: ` or one of the init containers: [...]`).
pub(super) fn container_of(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, Reply> {
    let containers = names_of(pod, "containers");
    let container = match asked.filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None if containers.len() == 1 => containers[0].clone(),
        None if containers.is_empty() => {
            return Err(bad_request(format!("a container name must be specified for pod {name}")));
        }
        None => {
            return Err(bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    if !containers.contains(&container) && !names_of(pod, "initContainers").contains(&container) {
        return Err(bad_request(format!("container {container} is not valid for pod {name}")));
    }
    Ok(container)
}

/// The kubelet's refusal to read a container that has not started (or has no previous run).
fn unreadable(pod: &Value, name: &str, container: &str, previous: bool) -> Option<Reply> {
    let cs = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container)
        .cloned()
        .unwrap_or(json!({}));
    if previous {
        return cs["lastState"]["terminated"].is_null().then(|| {
            bad_request(format!("previous terminated container \"{container}\" in pod \"{name}\" not found"))
        });
    }
    if let Some(reason) = cs["state"]["waiting"]["reason"].as_str() {
        if reason == "CrashLoopBackOff" {
            return None;
        }
        let why = if reason.contains("ImagePull") || reason == "ErrImagePull" {
            "trying and failing to pull image".to_string()
        } else {
            reason.to_string()
        };
        return Some(bad_request(format!("container \"{container}\" in pod \"{name}\" is waiting to start: {why}")));
    }
    let no_status = cs.as_object().is_none_or(|m| m.is_empty());
    (no_status && pod["status"]["phase"] == "Pending").then(|| {
        bad_request(format!("container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"))
    })
}

pub(super) fn logs(ctx: &Ctx, state: &State, route: &Route, name: &str, q: &Query) -> Reply {
    let pods_route = Route { name: Some(name.to_string()), sub: None, ..route.clone() };
    let Some(pod) = find(ctx, state, &pods_route, name) else { return not_found(&pods_route, name) };
    let container = match container_of(&pod, name, q.get("container")) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let previous = q.truthy("previous");
    if let Some(reply) = unreadable(&pod, name, &container, previous) {
        return reply;
    }
    let component =
        pod["metadata"]["labels"]["component"].as_str().map(String::from).unwrap_or_else(|| container.clone());
    let key = if previous { "previous_logs" } else { "logs" };
    let text = [component.as_str(), container.as_str(), name]
        .iter()
        .find_map(|k| ctx.scenario[key][*k].as_str().map(String::from))
        .or_else(|| super::hostjobs::output(name))
        .unwrap_or_else(|| default_logs(&component, previous));
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(n) = q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        lines = lines.split_off(lines.len().saturating_sub(n));
    }
    let mut out = String::new();
    for l in lines {
        if q.truthy("timestamps") {
            out.push_str(&rfc3339_nano(ctx.now));
            out.push(' ');
        }
        out.push_str(l);
        out.push('\n');
    }
    if let Some(n) = q.get("limitBytes").and_then(|n| n.parse::<usize>().ok()) {
        out.truncate(n);
    }
    Reply::Text(200, out)
}
