//! `GET .../pods/{name}/exec` and `.../portforward` with `Upgrade: websocket`, as kube-rs sends
//! them (`Api::exec`, `Api::portforward`). The checks a real API server makes before upgrading
//! (the API is up, the pod exists, the container is one of the pod's) answer a plain Status; then
//! the connection becomes a WebSocket of the Kubernetes channel protocol (apimachinery
//! `pkg/util/httpstream/wsstream`): every binary message starts with its channel byte.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::Shared;
use super::api::{Query, Route, bad_request, not_found, unavailable};
use super::server::{Body, blocking, empty, header, response};
use super::store::find;

pub(super) const CH_STDIN: u8 = 0;
pub(super) const CH_STDOUT: u8 = 1;
pub(super) const CH_STDERR: u8 = 2;
pub(super) const CH_STATUS: u8 = 3;
/// The client's terminal size, JSON `{"Width","Height"}` (kubernetes v1.34.0
/// `staging/src/k8s.io/kubelet/pkg/cri/streaming/remotecommand/websocket.go`: `resizeChannel`,
/// the fifth; `httpstream.go` `handleResizeEvents` decodes each `TerminalSize` from it).
pub(super) const CH_RESIZE: u8 = 4;
/// v5.channel.k8s.io: the client closed one of its streams (the next byte says which).
pub(super) const CH_CLOSE: u8 = 255;

/// How long a session waits for the client to finish once the fake is done.
pub(super) const GRACE: Duration = Duration::from_secs(5);

pub(super) async fn upgrade(sh: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET {
        return response(bad_request(format!("{} cannot upgrade a connection", req.method())));
    }
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let shared = sh.clone();
    let prepared = blocking(move || {
        let ctx = sh.ctx();
        if !ctx.api_up {
            return Err(unavailable());
        }
        let streaming = |r: &Route| {
            r.resource == "pods" && r.name.is_some() && matches!(r.sub.as_deref(), Some("exec" | "portforward"))
        };
        let Some(route) = Route::parse(&path).filter(streaming) else {
            return Err(bad_request(format!(
                "FakeKube upgrades pods/exec and pods/portforward to WebSocket, not {path}"
            )));
        };
        let name = route.name.clone().unwrap_or_default();
        let pod = find(&ctx, &sh.state.lock().unwrap(), &route, &name);
        match pod {
            Some(pod) => Ok((ctx, route, pod, name)),
            None => Err(not_found(&route, &name)),
        }
    })
    .await;
    match prepared {
        Err(reply) => response(reply),
        Ok((ctx, route, pod, name)) if route.sub.as_deref() == Some("exec") => {
            super::exec::start(ctx, shared, req, &pod, &name, &query).await
        }
        Ok((ctx, _, pod, name)) => super::portforward::start(&ctx, req, &pod, &name, &query),
    }
}

/// The protocols of a WebSocket request's `Sec-WebSocket-Protocol` list.
pub(super) fn offered_protocols(req: &Request<Incoming>) -> Vec<String> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()).collect::<Vec<_>>())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The 101 answer, and the connection it hands over once written.
pub(super) fn accept(req: &mut Request<Incoming>, protocol: Option<&str>) -> (Response<Body>, OnUpgrade) {
    let key = tungstenite::handshake::derive_accept_key(header(req, header::SEC_WEBSOCKET_KEY).trim().as_bytes());
    let mut answer = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, key);
    if let Some(p) = protocol {
        answer = answer.header(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    (answer.body(empty()).expect("a 101 response"), hyper::upgrade::on(req))
}

pub(super) type ClientMessages = SplitStream<WebSocketStream<TokioIo<Upgraded>>>;

/// The fake's side of an upgraded connection: what the client sends, and a writer that sends
/// whole messages in order for every task of the session.
pub(super) struct Session {
    pub(super) incoming: ClientMessages,
    pub(super) channels: Channels,
    pub(super) writer: JoinHandle<()>,
}

/// Sends messages on the session's channels.
#[derive(Clone)]
pub(super) struct Channels(mpsc::Sender<Message>);

impl Session {
    pub(super) async fn open(on_upgrade: OnUpgrade) -> Option<Session> {
        let upgraded = on_upgrade.await.ok()?;
        // kube-rs sends stdin in messages as large as its writes
        let config = WebSocketConfig::default().max_message_size(Some(256 << 20)).max_frame_size(Some(256 << 20));
        let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
        let (mut sink, incoming) = socket.split();
        let (out, mut queue) = mpsc::channel::<Message>(32);
        let writer = tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                let closing = message.is_close();
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
        });
        Some(Session { incoming, channels: Channels(out), writer })
    }
}

/// Ends a session: waits (at most `GRACE`) for our last messages to go and for `reader`, the task
/// reading the client, to see the client finish; then the connection closes.
pub(super) async fn hang_up<T>(writer: JoinHandle<()>, reader: JoinHandle<T>) {
    let (stop_writer, stop_reader) = (writer.abort_handle(), reader.abort_handle());
    let _ = tokio::time::timeout(GRACE, async {
        let _ = writer.await;
        // a reader already awaited to its end must not be awaited again
        if !reader.is_finished() {
            let _ = reader.await;
        }
    })
    .await;
    stop_writer.abort();
    stop_reader.abort();
}

impl Channels {
    /// A binary message on a channel; an error once the session is closing.
    pub(super) async fn send(&self, channel: u8, data: &[u8]) -> Result<(), ()> {
        let mut payload = Vec::with_capacity(data.len() + 1);
        payload.push(channel);
        payload.extend_from_slice(data);
        self.0.send(Message::Binary(payload.into())).await.map_err(drop)
    }

    /// A normal closure (1000).
    pub(super) async fn close(&self) {
        let close = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        let _ = self.0.send(Message::Close(Some(close))).await;
    }
}

/// The next data message from the client, or None when it closed (its Close answered) or went.
pub(super) async fn next_data(incoming: &mut ClientMessages) -> Option<Vec<u8>> {
    loop {
        match incoming.next().await? {
            Ok(Message::Binary(data)) => return Some(data.to_vec()),
            Ok(Message::Text(text)) => return Some(text.as_bytes().to_vec()),
            // tungstenite answers a Ping, and a Close on the next read
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Close(_)) => {}
            Err(_) => return None,
        }
    }
}
