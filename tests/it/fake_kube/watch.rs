//! `GET <collection>?watch=true`: ADDED, MODIFIED and DELETED events as the collection changes
//! (polled every 100 ms), a BOOKMARK after the initial events when `sendInitialEvents` asks for
//! one, and the end of the stream at `timeoutSeconds` (at most 30 min, the API server's default
//! ceiling).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Bytes, Frame};
use hyper::{Response, header};
use serde_json::{Value, json};

use super::Shared;
use super::api::{Query, Route};
use super::server::{Body, blocking, streamed};
use super::store::collection;

/// The response of a watch: its events as they come, one JSON object per line.
pub(super) fn stream(sh: Arc<Shared>, route: Route, q: Query) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let timeout = q.get("timeoutSeconds").and_then(|t| t.parse::<f64>().ok()).unwrap_or(1800.0).min(1800.0);
        let _ = tokio::time::timeout(Duration::from_secs_f64(timeout), events(sh, route, q, tx)).await;
    });
    let body = streamed(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok(Frame::data(line)), rx))
    }));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .expect("a watch response")
}

fn key(o: &Value) -> String {
    format!("{}/{}", o["metadata"]["namespace"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""))
}

/// Sends events until the client goes away (or the timeout drops this).
async fn events(sh: Arc<Shared>, route: Route, q: Query, tx: tokio::sync::mpsc::Sender<Bytes>) {
    let send = |event: Value| {
        let mut line = serde_json::to_vec(&event).unwrap();
        line.push(b'\n');
        tx.send(Bytes::from(line))
    };
    let mut sent: HashMap<String, (String, Value)> = HashMap::new();
    let mut first = true;
    while !tx.is_closed() {
        let items = {
            let (sh, route, q) = (sh.clone(), route.clone(), q.clone());
            blocking(move || {
                let ctx = sh.ctx();
                if !ctx.api_up {
                    return Vec::new();
                }
                let state = sh.state.lock().unwrap();
                let all = collection(&ctx, &state, &route, route.namespace.as_deref());
                all.into_iter().filter(|o| super::selector::selected(o, &q)).collect::<Vec<_>>()
            })
            .await
        };
        let mut now_keys = HashSet::new();
        for o in items {
            let k = key(&o);
            now_keys.insert(k.clone());
            let rv = o["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
            let event = match sent.get(&k) {
                None => "ADDED",
                Some((old, _)) if *old != rv => "MODIFIED",
                _ => continue,
            };
            if send(json!({"type": event, "object": o})).await.is_err() {
                return;
            }
            sent.insert(k, (rv, o));
        }
        let gone: Vec<String> = sent.keys().filter(|k| !now_keys.contains(*k)).cloned().collect();
        for k in gone {
            if let Some((_, o)) = sent.remove(&k)
                && send(json!({"type": "DELETED", "object": o})).await.is_err()
            {
                return;
            }
        }
        if first && q.truthy("sendInitialEvents") {
            let bookmark = json!({"type": "BOOKMARK", "object": {
                "kind": route.kind(), "apiVersion": route.api_version(),
                "metadata": {"resourceVersion": "1", "annotations": {"k8s.io/initial-events-end": "true"}}
            }});
            if send(bookmark).await.is_err() {
                return;
            }
        }
        first = false;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
