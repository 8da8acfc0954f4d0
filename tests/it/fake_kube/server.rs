//! HTTP on hyper: every connection served on the fake's own runtime, each request logged, read
//! whole and handed to the API on a blocking thread (the API reads files and runs `docker`);
//! watches and WebSocket upgrades stream.

use std::convert::Infallible;
use std::sync::Arc;

use futures_util::Stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;

use super::Shared;
use super::api::{self, Query, Reply, Routed};

pub(super) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Serves until `stop` fires.
pub(super) async fn serve(
    listener: std::net::TcpListener,
    sh: Arc<Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let _ = tcp.set_nodelay(true);
        let sh = sh.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(sh.clone(), req));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).with_upgrades().await;
        });
    }
}

/// Runs the API's synchronous work off the runtime's thread.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("the fake API's work does not panic")
}

pub(super) fn header(req: &Request<Incoming>, name: header::HeaderName) -> &str {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn handle(sh: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().as_str().to_ascii_uppercase();
    let target = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    sh.requests.lock().unwrap().push(format!("{method} {target}"));
    if header(&req, header::UPGRADE).eq_ignore_ascii_case("websocket") {
        return Ok(super::ws::upgrade(sh, req).await);
    }
    let content_type = header(&req, header::CONTENT_TYPE).to_string();
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let routed = {
        let sh = sh.clone();
        blocking(move || api::route(&sh, &method, &path, &query, &body, &content_type)).await
    };
    Ok(match routed {
        Routed::Reply(reply) => response(reply),
        Routed::Watch(route, query) => super::watch::stream(sh, route, query),
        Routed::Follow(followed) => followed.stream(),
    })
}

pub(super) fn response(reply: Reply) -> Response<Body> {
    let (code, content_type, bytes) = match reply {
        Reply::Json(code, v) => (code, "application/json", serde_json::to_vec(&v).unwrap()),
        Reply::Text(code, t) => (code, "text/plain", t.into_bytes()),
    };
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(bytes)).boxed_unsync())
        .expect("a response")
}

/// A body of frames as a stream makes them (sent chunked).
pub(super) fn streamed(frames: impl Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static) -> Body {
    StreamBody::new(frames).boxed_unsync()
}

pub(super) fn empty() -> Body {
    Full::new(Bytes::new()).boxed_unsync()
}
