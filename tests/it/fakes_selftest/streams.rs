//! FakeKube's `pods/exec` and `pods/portforward` WebSockets, and clusters devflow did not create.

use serde_json::json;

use super::*;
use crate::test_name;
use crate::world::World;

// ------------------------------------------------------------------------------------------ exec, port-forward, existing clusters

#[test]
fn fake_kube_exec_round_trips_stdin_through_kube_rs() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, AttachParams};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some((world, context, target)) = exec_world(test_name!()) else {
        return;
    };
    let input = mebibyte();
    block_on("exec cat", async {
        let pods: Api<Pod> = Api::namespaced(client_for(&world, &context).await, "default");
        let ap = AttachParams::default().container("main").stdin(true).stdout(true).stderr(true);

        // cat: stdin comes back on stdout, and ends when stdin is closed (v5's close signal)
        let mut proc = pods.exec("box", ["cat"], &ap).await.expect("exec cat");
        let (mut stdin, mut stdout) = (proc.stdin().unwrap(), proc.stdout().unwrap());
        let status = proc.take_status().unwrap();
        let data = input.clone();
        let writer = tokio::spawn(async move {
            stdin.write_all(&data).await.unwrap();
            stdin.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), input.len());
        assert!(got == input, "stdout differs from stdin");
        let status = status.await.expect("a status");
        assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");
        proc.join().await.unwrap();

        // it ran in the real container: a file written there is there
        let mut proc = pods.exec("box", ["sh", "-c", "cat > /blob"], &ap).await.expect("exec sh");
        let mut stdin = proc.stdin().unwrap();
        let status = proc.take_status().unwrap();
        stdin.write_all(&input).await.unwrap();
        stdin.shutdown().await.unwrap();
        assert_eq!(status.await.expect("a status").status.as_deref(), Some("Success"));
    });
    let out = std::process::Command::new("docker").args(["exec", &target, "wc", "-c", "/blob"]).output().unwrap();
    assert_eq!(text(&out.stdout).split_whitespace().next(), Some("1048576"), "{}", text(&out.stderr));
    let reqs = world.kube().requests();
    assert!(
        reqs.iter().any(|r| r.starts_with("GET /api/v1/namespaces/default/pods/box/exec?")
            && r.contains("command=cat")
            && r.contains("container=main")
            && r.contains("stdin=true")),
        "{reqs:?}"
    );
}

#[test]
fn fake_kube_exec_passes_stderr_and_the_exit_code() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, AttachParams};
    use tokio::io::AsyncReadExt;

    let Some((world, context, _)) = exec_world(test_name!()) else { return };
    block_on("exec sh", async {
        let pods: Api<Pod> = Api::namespaced(client_for(&world, &context).await, "default");
        // no container: the pod has one
        let ap = AttachParams::default().stdout(true).stderr(true);
        let mut proc = pods.exec("box", ["sh", "-c", "echo out; echo err >&2; exit 3"], &ap).await.expect("exec sh");
        let (mut stdout, mut stderr) = (proc.stdout().unwrap(), proc.stderr().unwrap());
        let status = proc.take_status().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        tokio::try_join!(stdout.read_to_string(&mut out), stderr.read_to_string(&mut err)).unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
        let status = status.await.expect("a status");
        assert_eq!(status.status.as_deref(), Some("Failure"), "{status:?}");
        assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"), "{status:?}");
        let causes = status.details.and_then(|d| d.causes).unwrap_or_default();
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!((causes[0].reason.as_deref(), causes[0].message.as_deref()), (Some("ExitCode"), Some("3")));
        assert!(status.message.as_deref().unwrap_or("").contains("exit code 3"), "{:?}", status.message);

        // a command the container does not have: the API's InternalError, not an exit code
        let mut proc = pods.exec("box", ["no-such-command"], &ap).await.expect("exec");
        let status = proc.take_status().unwrap().await.expect("a status");
        assert_eq!((status.reason.as_deref(), status.code), (Some("InternalError"), Some(500)), "{status:?}");
        assert!(status.message.as_deref().unwrap_or("").contains("executable file not found"), "{status:?}");
    });
}

#[test]
fn fake_kube_exec_errors_like_the_api() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, AttachParams};

    let Some((world, context, target)) = exec_world(test_name!()) else { return };
    block_on("exec errors", async {
        let pods: Api<Pod> = Api::namespaced(client_for(&world, &context).await, "default");
        let ap = AttachParams::default().stdout(true).stderr(true);

        let err = pods.exec("missing", ["true"], &ap).await.err().expect("a missing pod is an error");
        match err {
            kube::Error::Api(s) => {
                assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
                assert_eq!(s.message, "pods \"missing\" not found");
            }
            other => panic!("expected a 404 Status, got {other:?}"),
        }
        let err = pods
            .exec("box", ["true"], &AttachParams::default().container("nope"))
            .await
            .err()
            .expect("a bad container");
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 400 && s.message == "container nope is not valid for pod box"),
            "{err:?}"
        );
        let missing_ns: Api<Pod> = Api::namespaced(pods.clone().into_client(), "nowhere");
        let err = missing_ns.exec("box", ["true"], &ap).await.err().expect("a pod of another namespace");
        assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err:?}");

        // a pod no Docker container stands in for: a container that is not running
        world.scenario(json!({"node_ready_after_s": 0.0, "pod_ready_after_s": 0.0, "exec": {"other": target}}));
        let mut proc = pods.exec("box", ["true"], &ap).await.expect("the API upgrades first");
        let status = proc.take_status().unwrap().await.expect("a status");
        assert_eq!(status.status.as_deref(), Some("Failure"));
        assert_eq!((status.reason.as_deref(), status.code), (Some("InternalError"), Some(500)), "{status:?}");
        assert_eq!(
            status.message.as_deref(),
            Some("Internal error occurred: unable to upgrade connection: container not found (\"main\")")
        );
    });
    // exec without a WebSocket
    let url = format!("{}/api/v1/namespaces/default/pods/box/exec?command=true&stdout=true", world.kube().url());
    let (code, body) = http("GET", &url, None, "");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("Upgrade request required"), "{body}");
    assert!(
        world.kube().requests().iter().any(|r| r.starts_with("GET /api/v1/namespaces/default/pods/missing/exec?")),
        "{:?}",
        world.kube().requests()
    );
}

#[test]
fn fake_kube_exec_speaks_the_channel_protocol_to_a_plain_websocket_client() {
    use tungstenite::Message;
    use tungstenite::client::IntoClientRequest;

    let Some((world, _, _)) = exec_world(test_name!()) else { return };
    let host = world.kube().url().trim_start_matches("http://").to_string();
    let exec = |protocols: &str, script: &str| {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("command", "sh"), ("command", "-c"), ("command", script)])
            .extend_pairs([("stdin", "true"), ("stdout", "true"), ("stderr", "true")])
            .finish();
        let url = format!("ws://{host}/api/v1/namespaces/default/pods/box/exec?{query}");
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
        let stream = std::net::TcpStream::connect(&host).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
        tungstenite::client(request, stream).expect("FakeKube upgrades the exec")
    };

    let (mut socket, answer) =
        exec("v5.channel.k8s.io, v4.channel.k8s.io", "read line; echo \"got $line\"; echo 'a+b c' >&2; exit 5");
    assert_eq!(answer.headers()["Sec-WebSocket-Protocol"], "v5.channel.k8s.io");
    socket.send(Message::Ping(b"still there?".to_vec().into())).unwrap();
    socket.send(Message::Binary([&[0u8][..], b"hello world\n"].concat().into())).unwrap();
    // v5: the client's stdin is closed
    socket.send(Message::Binary(vec![255, 0].into())).unwrap();
    let mut channels = std::collections::BTreeMap::<u8, Vec<u8>>::new();
    let (mut pong, mut close) = (None, None);
    loop {
        match socket.read() {
            Ok(Message::Binary(m)) => channels.entry(m[0]).or_default().extend_from_slice(&m[1..]),
            Ok(Message::Pong(p)) => pong = Some(p.to_vec()),
            Ok(Message::Close(frame)) => close = frame,
            Ok(other) => panic!("an unexpected message: {other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("the exec's WebSocket: {e}"),
        }
    }
    assert_eq!(pong.as_deref(), Some(&b"still there?"[..]));
    assert_eq!(text(&channels[&1]), "got hello world\n");
    // the script came through the query's repeated `command`s, + and spaces intact
    assert_eq!(text(&channels[&2]), "a+b c\n");
    let status: Value = serde_json::from_slice(&channels[&3]).unwrap();
    assert_eq!(
        (status["reason"].as_str(), status["details"]["causes"][0]["message"].as_str()),
        (Some("NonZeroExitCode"), Some("5"))
    );
    assert_eq!(close.map(|f| f.code), Some(tungstenite::protocol::frame::coding::CloseCode::Normal));

    // a client that speaks only v4 gets v4
    let (mut socket, answer) = exec("v4.channel.k8s.io", "echo v4");
    assert_eq!(answer.headers()["Sec-WebSocket-Protocol"], "v4.channel.k8s.io");
    let mut out = Vec::new();
    while let Ok(message) = socket.read() {
        if let Message::Binary(m) = message
            && m[0] == 1
        {
            out.extend_from_slice(&m[1..]);
        }
    }
    assert_eq!(text(&out), "v4\n");
}

#[test]
fn fake_kube_port_forwards_through_kube_rs() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::Api;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some((world, context, target)) = exec_world(test_name!()) else { return };
    let echo = echo_server();
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    world.scenario(exec_scenario(&target, json!({"forward": {"8080": echo, "8081": refused}})));
    block_on("port-forward", async {
        let pods: Api<Pod> = Api::namespaced(client_for(&world, &context).await, "default");

        let mut pf = pods.portforward("box", &[8080]).await.expect("port-forward 8080");
        let mut stream = pf.take_stream(8080).unwrap();
        stream.write_all(b"hello through the pod").await.unwrap();
        let mut buf = [0u8; 21];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello through the pod");
        let big = mebibyte()[..200_000].to_vec();
        stream.write_all(&big).await.unwrap();
        let mut back = vec![0u8; big.len()];
        stream.read_exact(&mut back).await.unwrap();
        assert!(back == big, "the echo differs");
        drop(stream);
        pf.join().await.expect("the forward ends when the client closes");

        // nothing listens: the kubelet's error on the port's error channel
        let mut pf = pods.portforward("box", &[8081]).await.expect("port-forward 8081");
        let err = pf.take_error(8081).unwrap().await.expect("an error message");
        assert!(err.starts_with("error forwarding port 8081 to pod "), "{err}");
        assert!(err.contains("connect: connection refused"), "{err}");
        let mut stream = pf.take_stream(8081).unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "{rest:?}");
        drop(stream);
        let _ = pf.join().await;

        let err = pods.portforward("missing", &[8080]).await.err().expect("a missing pod is an error");
        assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err:?}");
    });
    let reqs = world.kube().requests();
    assert!(reqs.iter().any(|r| r.starts_with("GET /api/v1/namespaces/default/pods/box/portforward?")), "{reqs:?}");
}

#[test]
fn fake_kube_serves_an_existing_clusters_context() {
    use k8s_openapi::api::core::v1::{Node, Pod};
    use kube::api::{Api, AttachParams, ListParams};
    use tokio::io::AsyncReadExt;

    let Some(world) = World::for_test(test_name!()) else { return };
    world.scenario(json!({"node_ready_after_s": 0.0, "pod_ready_after_s": 0.0}));
    let context = "arn:aws:eks:eu-west-1:123456789012:cluster/shared";
    let cluster = world.existing_cluster(context);
    assert_eq!(cluster.context, context);
    assert_eq!(world.current_context(), context);
    assert!(world.kubeconfig_contexts().contains(&context.to_string()));
    let node = cluster.node.clone().expect("a node container");
    assert_eq!(world.containers(), vec![node.clone()]);
    // not a kind or k3d cluster
    assert_eq!(ok(&world.run("kind", &["get", "clusters"], None)), "");

    // helm installs under the context; the chart's pods run there
    assert_eq!(apply(&world, "/api/v1/namespaces/airflow", &namespace("airflow")).0, 201);
    let values = write_values(&world, "airflowVersion: 3.2.2\nexecutor: LocalExecutor\n");
    ok(&helm_upgrade(&world, context, &values));
    assert_eq!(world.releases()[context]["airflow/airflow"]["status"], json!("deployed"));
    let target = world.exec_container("scheduler");
    world.scenario(json!({"node_ready_after_s": 0.0, "pod_ready_after_s": 0.0, "exec": {"scheduler": target}}));

    block_on("existing cluster", async {
        let client = client_for(&world, context).await;
        let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await.unwrap();
        assert_eq!(nodes.items.len(), 1);
        let n = &nodes.items[0];
        assert_eq!(n.metadata.name.as_deref(), Some(node.as_str()));
        assert!(n.spec.as_ref().and_then(|s| s.provider_id.as_deref()).unwrap_or("").starts_with("aws:///"));
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(ready, "{n:?}");

        let pods: Api<Pod> = Api::namespaced(client, "airflow");
        let sched = pods.list(&ListParams::default().labels("component=scheduler")).await.unwrap().items;
        assert_eq!(sched.len(), 1);
        let pod = sched[0].metadata.name.clone().unwrap();
        assert_eq!(sched[0].status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));
        assert_eq!(sched[0].spec.as_ref().and_then(|s| s.node_name.as_deref()), Some(node.as_str()));

        // exec by the component: the scheduler pod has a sidecar, so the container is named
        let ap = AttachParams::default().stdout(true).stderr(true);
        let err = pods.exec(&pod, ["true"], &ap).await.err().expect("two containers need a name");
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 400 && s.message.contains("choose one of: [scheduler scheduler-log-groomer]")),
            "{err:?}"
        );
        let mut proc = pods.exec(&pod, ["sh", "-c", "echo $HOSTNAME"], &ap.container("scheduler")).await.unwrap();
        let mut out = String::new();
        proc.stdout().unwrap().read_to_string(&mut out).await.unwrap();
        assert_eq!(out.trim(), target);
        assert_eq!(proc.take_status().unwrap().await.unwrap().status.as_deref(), Some("Success"));
    });
}

#[test]
fn fake_kube_existing_cluster_without_nodes_follows_the_api_scenario() {
    let world = World::named(test_name!());
    let cluster = world.existing_cluster_without_nodes("gke_project_europe-west1_shared");
    assert_eq!(cluster.node, None);
    assert_eq!(get_json(&world, "/api/v1/nodes").0, 503);
    let values = write_values(&world, "airflowVersion: 3.2.2\n");
    let err = fails(&helm_upgrade(&world, &cluster.context, &values));
    assert!(err.starts_with("Error: Kubernetes cluster unreachable: "), "{err}");

    world.scenario(json!({"api": "up", "pod_ready_after_s": 0.0}));
    let (code, nodes) = get_json(&world, "/api/v1/nodes");
    assert_eq!((code, nodes["items"].clone()), (200, json!([])));
    assert_eq!(apply(&world, "/api/v1/namespaces/airflow", &namespace("airflow")).0, 201);
    ok(&helm_upgrade(&world, &cluster.context, &values));
    let (code, list) = get_json(&world, "/api/v1/namespaces/airflow/pods?labelSelector=component%3Dapi-server");
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}
