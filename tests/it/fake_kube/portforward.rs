//! `pods/portforward`: each port of the request connects to the address the scenario's `forward`
//! gives it, over the kubelet's port-forward WebSocket (v4.channel.k8s.io framing, or the bare
//! protocol): port i's data on channel 2i, its errors on 2i+1, each channel opened by a message
//! of the port number. One forwarded connection per WebSocket, as kube-rs makes them.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::api::{Query, bad_request};
use super::identity::{fnv, uid};
use super::server::{Body, response};
use super::view::Ctx;
use super::ws::{self, Channels, Session};

/// The API server's checks, then the upgrade.
pub(super) fn start(ctx: &Ctx, mut req: Request<Incoming>, pod: &Value, name: &str, q: &Query) -> Response<Body> {
    let mut ports: Vec<u16> = Vec::new();
    for (k, v) in q.pairs().iter().filter(|(k, _)| k == "ports" || k == "port") {
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => {
                    return response(bad_request(format!(
                        "invalid {k} \"{p}\": must be a port number between 1 and 65535"
                    )));
                }
            }
        }
    }
    if ports.is_empty() {
        return response(bad_request("at least 1 port must be specified".into()));
    }
    let offered = ws::offered_protocols(&req);
    let protocol = if offered.is_empty() {
        None
    } else if let Some(p) =
        ["v4.channel.k8s.io", "portforward.k8s.io"].into_iter().find(|p| offered.iter().any(|o| o == p))
    {
        Some(p)
    } else {
        return response(bad_request(format!("FakeKube forwards ports over v4.channel.k8s.io, not {offered:?}")));
    };
    let (answer, on_upgrade) = ws::accept(&mut req, protocol);
    let targets = ctx.scenario["forward"].clone();
    let sandbox = sandbox_of(name, pod["metadata"]["uid"].as_str().unwrap_or(""));
    tokio::spawn(async move {
        if let Some(session) = Session::open(on_upgrade).await {
            forward(session, ports, &targets, &sandbox).await;
        }
    });
    answer
}

/// The pod's sandbox id, as containerd names it in its errors.
fn sandbox_of(name: &str, pod_uid: &str) -> String {
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        fnv(name),
        fnv(pod_uid),
        fnv(&format!("{name}/{pod_uid}")),
        fnv(pod_uid) ^ 1
    )
}

async fn connect(addr: &str) -> std::io::Result<TcpStream> {
    match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
        Ok(connected) => connected,
        Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut)),
    }
}

/// The kubelet's words when nothing answers on the pod's port.
fn refused(port: u16, sandbox: &str, e: &std::io::Error) -> String {
    let netns = format!("/var/run/netns/cni-{}", uid(sandbox));
    let why = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "i/o timeout".to_string(),
        _ => e.to_string(),
    };
    format!(
        "error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in network namespace \"{netns}\": failed to connect to localhost:{port} inside namespace \"{sandbox}\", IPv4: dial tcp4 127.0.0.1:{port}: {why} IPv6 dial tcp6 [::1]:{port}: {why} "
    )
}

/// The target's bytes → the client, on the port's data channel.
async fn target_pump(mut from: OwnedReadHalf, channel: u8, out: Channels) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out.send(channel, &buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// The client's bytes → each port's target, until the client goes.
async fn client_pump(mut incoming: ws::ClientMessages, mut writers: Vec<Option<OwnedWriteHalf>>) {
    while let Some(m) = ws::next_data(&mut incoming).await {
        let Some((&ch, data)) = m.split_first() else { continue };
        let port = usize::from(ch / 2);
        if ch % 2 == 0
            && let Some(Some(w)) = writers.get_mut(port)
            && w.write_all(data).await.is_err()
        {
            writers[port] = None;
        }
    }
}

async fn forward(session: Session, ports: Vec<u16>, targets: &Value, sandbox: &str) {
    let Session { incoming, channels, writer } = session;
    for (i, port) in ports.iter().enumerate() {
        let _ = channels.send(2 * i as u8, &port.to_le_bytes()).await;
        let _ = channels.send(2 * i as u8 + 1, &port.to_le_bytes()).await;
    }
    let mut writers = Vec::new();
    let mut pumps = tokio::task::JoinSet::new();
    for (i, port) in ports.iter().enumerate() {
        let connected = match targets[port.to_string()].as_str() {
            Some(addr) => connect(addr).await,
            None => Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        match connected {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                let (from, to) = stream.into_split();
                writers.push(Some(to));
                pumps.spawn(target_pump(from, 2 * i as u8, channels.clone()));
            }
            Err(e) => {
                writers.push(None);
                let _ = channels.send(2 * i as u8 + 1, refused(*port, sandbox, &e).as_bytes()).await;
            }
        }
    }
    let mut reader = tokio::spawn(client_pump(incoming, writers));
    // one forwarded connection per WebSocket: it ends when either side closes
    tokio::select! {
        _ = async { while pumps.join_next().await.is_some() {} } => {}
        _ = &mut reader => {}
    }
    pumps.abort_all();
    channels.close().await;
    drop(channels);
    ws::hang_up(writer, reader).await;
}
