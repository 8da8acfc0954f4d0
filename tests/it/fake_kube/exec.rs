//! `pods/exec`: the command runs in the Docker container the scenario's `exec` maps the pod to
//! (`docker exec [-i] CONTAINER ARGV…`), or on this machine (`{"host": {ENV}}`), its streams on
//! the channels of v5.channel.k8s.io (or v4), its end as the Status the kubelet writes on
//! channel 3.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, Command};

use super::Shared;
use super::api::{Query, bad_request};
use super::identity::fnv;
use super::logs::container_of;
use super::server::{Body, response};
use super::view::Ctx;
use super::ws::{self, CH_CLOSE, CH_RESIZE, CH_STATUS, CH_STDERR, CH_STDIN, CH_STDOUT, Channels, Session};

/// The streams an exec asked for.
#[derive(Clone, Copy)]
struct Streams {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

fn status_ok() -> Value {
    json!({"metadata": {}, "status": "Success"})
}

fn status_exit(argv: &[String], code: i32) -> Value {
    json!({
        "metadata": {}, "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", argv.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    })
}

fn status_internal(message: &str) -> Value {
    json!({
        "metadata": {}, "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500
    })
}

/// Where a pod's command runs.
#[derive(Clone)]
enum Target {
    /// `docker exec` in that container.
    Docker(String),
    /// A process of this machine with only that environment (scenario `{"host": {ENV}}`). Why:
    /// no image can be pulled here, so a pod whose tools are PostgreSQL's or Airflow's cannot be
    /// a container; run on the host with PATH at Debian's PostgreSQL and an Airflow venv (and
    /// PGHOST at the test's server), the argv devflow sends to the pod is the very command that
    /// dumps, restores and seeds a real database.
    /// `mounts` (`{"/opt/airflow/dags": DIR}`) map a path the pod has to the host folder a node
    /// would mount there (the DAG folder's hostPath): arguments under it are rewritten.
    /// `images` (`{"apache/airflow:3.3.2": {ENV}}`) give a pod of that image its own
    /// environment: an upgraded scheduler runs the new version's venv.
    Host(Vec<(String, String)>, Vec<(String, String)>),
}

/// What runs a pod's container for exec: scenario `exec`, by the pod's component label, the
/// container name, the pod name, the longest pod-name prefix, then `*`.
fn exec_target(ctx: &Ctx, pod: &Value, pod_name: &str, container: &str) -> Option<Target> {
    let hit = exec_entry(ctx, pod, pod_name, container)?;
    if let Some(env) = hit["host"].as_object() {
        let image = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == container)
            .and_then(|c| c["image"].as_str())
            .unwrap_or_default();
        let env = hit["images"][image].as_object().unwrap_or(env);
        let pairs = |map: &serde_json::Map<String, Value>| -> Vec<(String, String)> {
            map.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
        };
        let mounts = hit["mounts"].as_object().map(pairs).unwrap_or_default();
        return Some(Target::Host(pairs(env), mounts));
    }
    hit.as_str().map(|c| Target::Docker(c.to_string()))
}

fn exec_entry<'a>(ctx: &'a Ctx, pod: &Value, pod_name: &str, container: &str) -> Option<&'a Value> {
    let map = ctx.scenario["exec"].as_object()?;
    let labels = &pod["metadata"]["labels"];
    let exact = [
        labels["component"].as_str(),
        labels["app.kubernetes.io/component"].as_str(),
        labels["app.kubernetes.io/name"].as_str(),
        Some(container),
        Some(pod_name),
    ];
    let hit = exact.iter().flatten().find_map(|k| map.get(*k)).or_else(|| {
        map.iter()
            .filter(|(k, _)| !k.is_empty() && k.as_str() != "*" && pod_name.starts_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, v)| v)
    });
    hit.or_else(|| map.get("*"))
}

async fn docker_running(container: &str) -> bool {
    Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", container])
        .output()
        .await
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true")
}

/// The API server's checks, then the upgrade.
pub(super) async fn start(
    ctx: Ctx,
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    pod: &Value,
    name: &str,
    q: &Query,
) -> Response<Body> {
    let argv = q.all("command");
    let io = Streams {
        stdin: q.truthy("stdin"),
        stdout: q.truthy("stdout"),
        stderr: q.truthy("stderr"),
        tty: q.truthy("tty"),
    };
    let container = match container_of(pod, name, q.get("container")) {
        Ok(c) => c,
        Err(reply) => return response(reply),
    };
    if argv.is_empty() {
        return response(bad_request("you must specify at least 1 command".into()));
    }
    if !io.stdin && !io.stdout && !io.stderr {
        return response(bad_request("you must specify at least one of stdin, stdout, stderr".into()));
    }
    let offered = ws::offered_protocols(&req);
    let Some(protocol) =
        ["v5.channel.k8s.io", "v4.channel.k8s.io"].into_iter().find(|p| offered.iter().any(|o| o == p))
    else {
        let speaks = "FakeKube speaks v5.channel.k8s.io and v4.channel.k8s.io";
        return response(bad_request(format!("{speaks}, not {offered:?}")));
    };
    // The kubelet's side: the container must run, and here a Docker container must stand in for it.
    let running = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["name"] == container.as_str() && c["state"]["running"].is_object());
    let target = match exec_target(&ctx, pod, name, &container) {
        Some(Target::Docker(t)) if running && docker_running(&t).await => Some(Target::Docker(t)),
        Some(Target::Host(env, mounts)) if running => Some(Target::Host(env, mounts)),
        _ => None,
    };
    let drop_after = ctx.scenario["drop_exec_after_s"].as_f64().map(Duration::from_secs_f64);
    let (answer, on_upgrade) = ws::accept(&mut req, Some(protocol));
    let resizes = Resizes { shared, pod: name.to_string(), tty: io.tty };
    tokio::spawn(async move {
        let Some(session) = Session::open(on_upgrade).await else { return };
        match target {
            Some(target) => run(session, &target, &argv, io, drop_after, resizes).await,
            None => not_running(session, &container).await,
        }
    });
    answer
}

/// The kubelet's answer for a container that does not run: the WebSocket opens, then a Status.
async fn not_running(session: Session, container: &str) {
    let Session { mut incoming, channels, writer } = session;
    let msg = format!("unable to upgrade connection: container not found (\"{container}\")");
    let _ = channels.send(CH_STATUS, &serde_json::to_vec(&status_internal(&msg)).unwrap()).await;
    channels.close().await;
    drop(channels);
    let reader = tokio::spawn(async move { while ws::next_data(&mut incoming).await.is_some() {} });
    ws::hang_up(writer, reader).await;
}

/// Where the terminal sizes a client sends go: FakeKube's record, as the kubelet decodes them.
struct Resizes {
    shared: Arc<Shared>,
    pod: String,
    tty: bool,
}

impl Resizes {
    fn record(&self, message: &[u8]) {
        let Ok(Value::Object(size)) = serde_json::from_slice::<Value>(message) else { return };
        let mut seen = json!({"pod": self.pod, "tty": self.tty});
        seen.as_object_mut().unwrap().extend(size);
        self.shared.resizes.lock().unwrap().push(seen);
    }
}

/// Client → the process's stdin, until the client closes stdin (v5) or the connection; the
/// terminal sizes on the resize channel are recorded.
async fn stdin_pump(mut incoming: ws::ClientMessages, mut pipe: Option<ChildStdin>, resizes: Resizes) {
    while let Some(m) = ws::next_data(&mut incoming).await {
        match m.first() {
            Some(&CH_RESIZE) => resizes.record(&m[1..]),
            Some(&CH_STDIN) => {
                if let Some(p) = pipe.as_mut()
                    && p.write_all(&m[1..]).await.is_err()
                {
                    pipe = None;
                }
            }
            // v5: the client closed a stream; stdin is the only one it writes
            Some(&CH_CLOSE) if m.get(1) == Some(&CH_STDIN) => pipe = None,
            _ => {}
        }
    }
}

/// The process's output → the client, as it comes. docker's own complaint that the command
/// cannot start (on either stream) is kept for the API's InternalError.
async fn output_pump(
    mut source: impl AsyncRead + Unpin,
    channel: u8,
    mut forward: bool,
    out: Channels,
    oci_error: Arc<Mutex<Option<String>>>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut first = true;
    loop {
        let n = match source.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if first && buf[..n].starts_with(b"OCI runtime exec failed") {
            *oci_error.lock().unwrap() = Some(String::from_utf8_lossy(&buf[..n]).trim().to_string());
            first = false;
            continue;
        }
        first = false;
        if forward && out.send(channel, &buf[..n]).await.is_err() {
            forward = false;
        }
    }
}

/// Runs the command for the session. The connection carries no timeout of its own: it stays
/// open, silent, for as long as the command is (the kubelet closes an exec only after
/// `streamingConnectionIdleTimeout`, 4 h by default: kubernetes v1.34.0
/// `pkg/kubelet/apis/config/v1beta1/defaults.go`). Scenario `drop_exec_after_s` cuts the
/// connection after that long without a Status or a close frame, as a node that restarts, a
/// laptop that sleeps or a proxy that gives up does; the command is stopped.
async fn run(
    session: Session,
    target: &Target,
    argv: &[String],
    io: Streams,
    drop_after: Option<Duration>,
    resizes: Resizes,
) {
    let (writer, reader) = (session.writer.abort_handle(), Arc::new(Mutex::new(None::<tokio::task::AbortHandle>)));
    let seen = reader.clone();
    let session_ends = serve(session, target, argv, io, resizes, move |handle| *seen.lock().unwrap() = Some(handle));
    let Some(after) = drop_after else { return session_ends.await };
    if tokio::time::timeout(after, session_ends).await.is_err() {
        // The session's future is dropped (its process killed on drop); its tasks hold the socket.
        writer.abort();
        if let Some(reader) = reader.lock().unwrap().take() {
            reader.abort();
        }
    }
}

async fn serve(
    session: Session,
    target: &Target,
    argv: &[String],
    io: Streams,
    resizes: Resizes,
    reader_is: impl FnOnce(tokio::task::AbortHandle),
) {
    let Session { incoming, channels, writer } = session;
    let mut command = match target {
        Target::Docker(container) => {
            let mut command = Command::new("docker");
            command.arg("exec");
            if io.stdin {
                command.arg("-i");
            }
            command.arg(container).args(argv);
            command
        }
        Target::Host(env, mounts) => {
            let on_host = |arg: &String| {
                mounts
                    .iter()
                    .find_map(|(path, dir)| arg.strip_prefix(path.as_str()).map(|rest| format!("{dir}{rest}")))
                    .unwrap_or_else(|| arg.clone())
            };
            let mut command = Command::new(&argv[0]);
            command.args(argv[1..].iter().map(on_host)).env_clear().envs(env.iter().map(|(k, v)| (k, v)));
            command
        }
    };
    command.kill_on_drop(true);
    command.stdin(if io.stdin { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("error executing command in container: docker exec: {e}");
            let _ = channels.send(CH_STATUS, &serde_json::to_vec(&status_internal(&msg)).unwrap()).await;
            channels.close().await;
            return;
        }
    };
    let mut reader = tokio::spawn(stdin_pump(incoming, child.stdin.take(), resizes));
    reader_is(reader.abort_handle());
    let oci_error = Arc::new(Mutex::new(None::<String>));
    let mut pumps = tokio::task::JoinSet::new();
    if let Some(stdout) = child.stdout.take() {
        pumps.spawn(output_pump(stdout, CH_STDOUT, io.stdout, channels.clone(), oci_error.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        let channel = if io.tty { CH_STDOUT } else { CH_STDERR };
        pumps.spawn(output_pump(stderr, channel, io.stderr || io.tty, channels.clone(), oci_error.clone()));
    }
    let client_gone = tokio::select! {
        _ = async { while pumps.join_next().await.is_some() {} } => false,
        _ = &mut reader => true,
    };
    if client_gone {
        // nobody listens any more: stop the process, as the kubelet does when the streams of an
        // exec go away
        let _ = child.start_kill();
        while pumps.join_next().await.is_some() {}
    }
    let exit = child.wait().await;
    if !client_gone {
        let code = exit.as_ref().map(|s| s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9)));
        let oci = oci_error.lock().unwrap().take();
        let status = match (code, oci) {
            (Ok(126 | 127), Some(oci)) => status_internal(&format!(
                "error executing command in container: failed to exec in container: failed to start exec \"{:016x}{:016x}\": {oci}",
                fnv(match target {
                    Target::Docker(c) => c,
                    Target::Host(..) => "host",
                }),
                fnv(&argv.join(" "))
            )),
            (Ok(0), _) => status_ok(),
            (Ok(code), _) => status_exit(argv, code),
            (Err(e), _) => status_internal(&format!("error executing command in container: {e}")),
        };
        let _ = channels.send(CH_STATUS, &serde_json::to_vec(&status).unwrap()).await;
        channels.close().await;
    }
    drop(channels);
    ws::hang_up(writer, reader).await;
}
