//! `provider = "existing"`: a cluster devflow did not make (tier 4, the fake API, as a shared
//! EKS/GKE cluster), its own namespace, and the DAG folder pushed through exec into a real Docker
//! container standing in for the receiver pod (tier 5), whose volume is a folder of the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::lifecycle::Lab;
use crate::support::{Expect, Run};
use crate::test_name;
use crate::world::{World, node_image};

const CONTEXT: &str = "shared-dev";
/// `devflow-<USER>-<project>`: the tests run devflow with USER=alice.
fn namespace(lab: &Lab) -> String {
    format!("devflow-alice-{}", lab.name)
}

/// A project on the existing cluster `shared-dev`, with a receiver container whose
/// /devflow/dags is `volume` on this machine (what every Airflow pod would read).
pub struct Shared {
    pub lab: Lab,
    pub volume: PathBuf,
    pub receiver: String,
}

impl Shared {
    pub fn new(test: &str) -> Option<Shared> {
        let lab = Lab::with_cluster(test, &format!("provider = \"existing\"\ncontext = \"{CONTEXT}\""))?;
        lab.world.existing_cluster(CONTEXT);
        let volume = lab.world.temp().join("volume");
        std::fs::create_dir_all(&volume).unwrap();
        let receiver = receiver_container(&lab.world, &volume);
        install_airflow_stand_in(&receiver);
        lab.world.scenario(json!({"exec": exec_map(&receiver)}));
        std::fs::write(lab.test().dir().join("dags/hello.py"), "from airflow.sdk import dag\n# hello\n").unwrap();
        Some(Shared { lab, volume, receiver })
    }

    /// devflow in this project, as alice.
    pub fn devflow(&self, args: &[&str]) -> Run<'_> {
        self.lab.devflow(args).env("USER", "alice")
    }

    /// devflow started in the background, its standard output and error read line by line into
    /// one channel.
    pub fn spawn(&self, args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
        let mut child = self.devflow(args).command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let streams: [Box<dyn std::io::Read + Send>; 2] =
            [Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap())];
        for stream in streams {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufRead::lines(std::io::BufReader::new(stream)).map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        (child, rx)
    }

    /// A real Airflow standing in for the chart's api-server: it reads the pushed volume and is
    /// reached only through the fake API's port-forward, with the project's admin password.
    pub fn airflow_behind_forward(&self, venv: &Path) -> crate::real_airflow::Airflow {
        let password =
            self.devflow(&["creds", "--json"]).status(0).run().json()["password"].as_str().unwrap().to_string();
        let port = crate::lifecycle::free_port();
        let airflow = crate::real_airflow::Airflow::start_with(
            venv,
            &crate::watch::DEV_SETTINGS,
            Some(&self.volume),
            port,
            &password,
        );
        self.lab.world.scenario(json!({
            "exec": exec_map(&self.receiver),
            "forward": {"8080": format!("127.0.0.1:{port}")},
        }));
        airflow
    }

    pub fn dags(&self) -> PathBuf {
        self.lab.test().dir().join("dags")
    }
}

/// Exec into the receiver and into the api-server pod (where devflow creates the admin user)
/// both reach the test's container.
fn exec_map(container: &str) -> Value {
    json!({"devflow-receiver": container, "api-server": container})
}

/// `airflow ARGS` in the container: keeps its arguments and standard input, and answers as the
/// FAB provider's `users create` does.
fn install_airflow_stand_in(container: &str) {
    let script = "#!/bin/sh\necho \"$*\" >> /tmp/airflow-argv\ncat >> /tmp/airflow-stdin\necho 'User \"admin\" created with role \"Admin\"'\n";
    let mut install = Command::new("docker")
        .args(["exec", "-i", container, "sh", "-c", "mkdir -p /tmp && cat > /bin/airflow && chmod 755 /bin/airflow"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut install.stdin.take().unwrap(), script.as_bytes()).unwrap();
    assert!(install.wait().unwrap().success());
}

fn in_container(container: &str, path: &str) -> String {
    let out = Command::new("docker").args(["exec", container, "cat", path]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_admin_user_is_made_through_exec_with_its_password_on_stdin_and_no_job() {
    let Some(shared) = Shared::new(test_name!()) else { return };
    shared.devflow(&["up", "--no-watch"]).status(0).stderr_contains("The admin user `admin` exists").run();
    let password =
        shared.devflow(&["creds", "--json"]).status(0).run().json()["password"].as_str().unwrap().to_string();
    assert!(password.len() >= 8, "{password}");
    assert_eq!(
        in_container(&shared.receiver, "/tmp/airflow-argv"),
        "users create --username admin --firstname admin --lastname user --email admin@example.com --role Admin\n"
    );
    assert_eq!(in_container(&shared.receiver, "/tmp/airflow-stdin"), format!("{password}\n{password}\n"));
    // The password is on no command line: not in an exec's query, not in helm's argv, not in a Job.
    for request in shared.lab.world.kube().requests() {
        assert!(!request.contains(&password), "the admin password in a request: {request}");
    }
    for call in shared.lab.calls("helm", &[]) {
        assert!(!call.argv.iter().any(|a| a.contains(&password)), "the admin password in helm's argv: {:?}", call.argv);
    }
    let ns = namespace(&shared.lab);
    let jobs_url = format!("{}/apis/batch/v1/namespaces/{ns}/jobs", shared.lab.world.kube().url());
    let jobs: Value =
        serde_json::from_str(&ureq::get(&jobs_url).call().unwrap().into_body().read_to_string().unwrap()).unwrap();
    let names: Vec<&str> =
        jobs["items"].as_array().unwrap().iter().filter_map(|j| j["metadata"]["name"].as_str()).collect();
    assert!(names.iter().any(|n| n.contains("migrations")), "the jobs are listed: {names:?}");
    assert!(!names.iter().any(|n| n.contains("create-user")), "the chart's create-user job is off: {names:?}");
    let values = shared.devflow(&["render", "--only", "values", "--json"]).status(0).run().json();
    assert_eq!(values["createUserJob"]["enabled"], false, "{}", values["createUserJob"]);
    shared
        .devflow(&["render", "--explain"])
        .status(0)
        .stdout_contains("devflow turns it off and creates the admin user itself through exec")
        .run();
}

/// A busybox container (labelled with the world, so it goes with it) with `volume` at the receiver's
/// DAG path.
fn receiver_container(world: &World, volume: &Path) -> String {
    let name = world.unique_name("receiver");
    let out = Command::new("docker")
        .args(["run", "-d", "--init", "--name", &name])
        .args(world.label_args())
        .arg("-v")
        .arg(format!("{}:/devflow/dags", volume.display()))
        .args([node_image(), "/bin/busybox", "sleep", "2147483647"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    name
}

/// Every file under a folder, relative, with its content.
fn files(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.push((name, std::fs::read_to_string(&path).unwrap_or_else(|_| "<binary>".into())));
            }
        }
    }
    out.sort();
    out
}

fn stored_kinds(world: &World) -> Vec<(String, String)> {
    world
        .kube()
        .stored()
        .values()
        .map(|o| {
            (o["kind"].as_str().unwrap_or("").to_string(), o["metadata"]["name"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

#[test]
fn up_push_status_and_down_stay_inside_the_projects_namespace() {
    let Some(shared) = Shared::new(test_name!()) else { return };
    let (lab, ns) = (&shared.lab, namespace(&shared.lab));

    shared
        .devflow(&["up", "--no-watch"])
        .status(0)
        .stderr_contains(format!("The namespace {ns} is free: devflow creates it"))
        .stderr_contains(format!("Pushed the DAGs in full: {} file(s) sent", files(&shared.dags()).len()))
        .stdout_contains("forwarded to api-server in shared-dev")
        .run();
    // The release went into the namespace through the user's context; no cluster tool ran.
    let upgrades = lab.calls("helm", &["upgrade"]);
    assert_eq!(upgrades.len(), 1);
    let argv = upgrades[0].argv.join(" ");
    assert!(argv.contains(&format!("--namespace {ns} --kube-context {CONTEXT}")), "{argv}");
    assert!(lab.calls("kind", &[]).is_empty() && lab.calls("k3d", &[]).is_empty());
    let stored = lab.world.kube().stored();
    let namespace = stored.values().find(|o| o["kind"] == "Namespace").unwrap();
    assert_eq!(namespace["metadata"]["name"], ns.as_str());
    assert!(namespace["metadata"]["annotations"]["devflow.io/owner"].as_str().unwrap().contains("devflow"));
    let claim = stored.values().find(|o| o["kind"] == "PersistentVolumeClaim").unwrap();
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteMany"]));
    assert!(!stored.values().any(|o| o["kind"] == "PersistentVolume"), "no cluster-wide volume on a shared cluster");
    assert_eq!(files(&shared.volume), files(&shared.dags()));

    // Edits, a new folder, a deletion, an ignored file: one push sends only the difference.
    std::fs::write(shared.dags().join("hello.py"), "from airflow.sdk import dag\n# hello, again\n").unwrap();
    std::fs::create_dir(shared.dags().join("etl")).unwrap();
    std::fs::write(shared.dags().join("etl/load.py"), "# load\n").unwrap();
    std::fs::write(shared.dags().join(".airflowignore"), "scratch_*\n").unwrap();
    std::fs::write(shared.dags().join("scratch_notes.py"), "# not for the cluster\n").unwrap();
    let pushed = shared.devflow(&["push", "--json"]).status(0).run().json();
    // This `push` is a new process: it lists the volume first, then sends what differs.
    let unchanged = files(&shared.dags()).len() - 4;
    assert_eq!(pushed["pushed"][0]["full"], true, "{pushed}");
    assert_eq!(
        pushed["pushed"][0]["uploaded"].as_u64(),
        Some(3 + unchanged as u64),
        "a listing has no hashes: {pushed}"
    );
    let mut expected = files(&shared.dags());
    expected.retain(|(name, _)| name != "scratch_notes.py");
    assert_eq!(files(&shared.volume), expected);
    std::fs::remove_file(shared.dags().join("etl/load.py")).unwrap();
    let pushed = shared.devflow(&["push", "--json"]).status(0).run().json();
    assert_eq!(pushed["pushed"][0]["deleted"], 1, "{pushed}");
    assert!(!shared.volume.join("etl").exists(), "a folder emptied by deletes is removed");
    std::fs::rename(shared.dags().join("hello.py"), shared.dags().join("greeting.py")).unwrap();
    shared.devflow(&["push"]).status(0).run();
    assert!(!shared.volume.join("hello.py").exists() && shared.volume.join("greeting.py").is_file(), "a rename");

    // Hostile paths. A symlink out of the DAG folder is not followed (the pod could not see its
    // target either); one in the volume, say from an earlier tool, cannot carry a write outside it.
    let outside = shared.lab.world.temp().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.py"), "# not the project's\n").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.py"), shared.dags().join("secret.py")).unwrap();
    std::fs::create_dir(shared.dags().join("etc")).unwrap();
    std::fs::write(shared.dags().join("etc/passwd.py"), "# a DAG folder named etc\n").unwrap();
    let in_container = |command: &str| {
        let out = Command::new("docker").args(["exec", &shared.receiver, "sh", "-c", command]).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert!(in_container("mkdir -p /etc && ln -s /etc /devflow/dags/etc").0);
    shared.devflow(&["push"]).status(0).stderr_contains("not pushed:").stderr_contains("secret.py").run();
    assert!(!shared.volume.join("secret.py").exists());
    assert_eq!(std::fs::read_to_string(shared.volume.join("etc/passwd.py")).unwrap(), "# a DAG folder named etc\n");
    assert_eq!(in_container("ls /etc/passwd.py 2>/dev/null").1, "", "nothing was written through the symlink");

    let doctor = shared.devflow(&["doctor", "--json"]).run().json();
    let cluster = doctor["checks"].as_array().unwrap().iter().find(|c| c["name"] == "cluster").unwrap().clone();
    assert_eq!(cluster["ok"], true, "{doctor}");
    assert!(cluster["detail"].as_str().unwrap().contains("this project's"), "{doctor}");
    assert!(!doctor["checks"].as_array().unwrap().iter().any(|c| c["name"] == "docker"), "no Docker needed: {doctor}");

    let status = shared.devflow(&["status", "--json"]).status(0).run().json();
    assert_eq!((status["state"].as_str(), status["namespace"].as_str()), (Some("running"), Some(ns.as_str())));
    assert_eq!(status["delivery"], "push");
    assert!(status["components"].as_array().unwrap().iter().any(|c| c["name"] == "dag receiver"), "{status}");

    shared.devflow(&["down", "--yes"]).status(0).stderr_contains(format!("Deleted the namespace {ns}")).run();
    let uninstall = lab.calls("helm", &["uninstall"]);
    assert!(uninstall[0].argv.join(" ").contains(&format!("--namespace {ns}")), "{uninstall:?}");
    assert!(!stored_kinds(&lab.world).iter().any(|(kind, name)| kind == "Namespace" && *name == ns));
    assert!(!lab.state_dir().exists(), "the state folder is removed");
    // The shared cluster and the user's kube context are not devflow's to remove.
    assert!(lab.world.kubeconfig_contexts().contains(&CONTEXT.to_string()));
    shared.devflow(&["down", "--yes"]).status(0).stderr_contains("Nothing to remove").run();
}

#[test]
fn kind_can_push_the_dags_instead_of_mounting_them() {
    let Some(lab) = Lab::with_cluster(test_name!(), "dag_delivery = \"push\"") else {
        return;
    };
    let volume = lab.world.temp().join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    let receiver = receiver_container(&lab.world, &volume);
    lab.world.scenario(json!({"exec": {"devflow-receiver": receiver}}));
    let config = lab.devflow(&["render", "--only", "cluster", "--json"]).status(0).run().json();
    let mounts: Vec<&str> = config["nodes"][0]["extraMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["containerPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, ["/devflow/owner"], "a pushed folder is not mounted");

    lab.devflow(&["up", "--no-watch"]).status(0).run();
    assert_eq!(files(&volume), files(&lab.test().dir().join("dags")));
    let stored = lab.world.kube().stored();
    let claim = stored.values().find(|o| o["kind"] == "PersistentVolumeClaim").unwrap();
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOnce"]), "kind's one node");
    assert!(!stored.values().any(|o| o["kind"] == "PersistentVolume"));
    lab.devflow(&["down", "--yes"]).status(0).run();
}

#[test]
fn a_namespace_devflow_did_not_make_is_left_alone() {
    let Some(shared) = Shared::new(test_name!()) else { return };
    let ns = namespace(&shared.lab);
    let created = ureq::post(&format!("{}/api/v1/namespaces", shared.lab.world.kube().url()))
        .header("Content-Type", "application/json")
        .send(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).to_string());
    assert!(created.is_ok(), "{created:?}");

    shared
        .devflow(&["up", "--no-watch"])
        .status(1)
        .stderr_contains(format!("the namespace {ns} of {CONTEXT} exists, but devflow did not create it"))
        .stderr_contains("kubectl annotate namespace")
        .run();
    assert!(shared.lab.calls("helm", &["upgrade"]).is_empty());
    shared.devflow(&["down", "--yes"]).status(1).stderr_contains("did not create it").run();
    assert!(stored_kinds(&shared.lab.world).iter().any(|(kind, name)| kind == "Namespace" && *name == ns));
    shared.devflow(&["stop"]).status(1).stderr_contains("is for a cluster devflow makes in Docker").run();
}

#[test]
fn watch_pushes_each_save_and_fills_a_restarted_receiver_again() {
    let test = test_name!();
    let Some(venv) = crate::real_airflow::venv(test) else { return };
    let Some(shared) = Shared::new(test) else { return };
    shared.devflow(&["up", "--no-watch"]).status(0).run();
    let _airflow = shared.airflow_behind_forward(&venv);

    let (mut watch, lines) = shared.spawn(&["watch"]);
    let wait_for = |text: &str| loop {
        let line = lines.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no line with {text:?}"));
        if line.contains(text) {
            return line;
        }
    };
    wait_for("Watching dags");
    std::fs::write(
        shared.dags().join("etl.py"),
        "from airflow.sdk import dag\n\n@dag(schedule=None)\ndef etl():\n    pass\n\netl()\n",
    )
    .unwrap();
    let line = wait_for("dags/etl.py");
    assert!(line.starts_with("✓ dags/etl.py  etl  "), "{line}");
    assert_eq!(
        std::fs::read(shared.volume.join("etl.py")).unwrap(),
        std::fs::read(shared.dags().join("etl.py")).unwrap()
    );

    // The receiver pod is replaced and its volume comes back empty: the watch fills it again.
    let (kube, ns) = (shared.lab.world.kube().url().to_string(), namespace(&shared.lab));
    let selector = "labelSelector=app.kubernetes.io%2Fname%3Ddevflow-receiver";
    let pods = ureq::get(&format!("{kube}/api/v1/namespaces/{ns}/pods?{selector}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string();
    let pods: Value = serde_json::from_str(&pods.unwrap()).unwrap();
    let pod = pods["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    ureq::delete(&format!("{kube}/api/v1/namespaces/{ns}/pods/{pod}")).call().unwrap();
    for (name, _) in files(&shared.volume) {
        std::fs::remove_file(shared.volume.join(name)).unwrap();
    }
    let line = wait_for("Pushed the DAGs in full");
    assert!(line.contains(&format!("{} file(s) sent", files(&shared.dags()).len())), "{line}");
    assert_eq!(files(&shared.volume), files(&shared.dags()));

    // SAFETY: SIGINT to the devflow this test started, as Ctrl-C would send.
    assert_eq!(unsafe { libc::kill(watch.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(watch.wait().unwrap().code(), Some(0));
}

#[test]
fn open_forwards_the_ui_through_the_api_until_ctrl_c() {
    let Some(shared) = Shared::new(test_name!()) else { return };
    shared.devflow(&["up", "--no-watch"]).status(0).run();
    // What answers in the api-server pod: a small HTTP server of the test.
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let _ = request.respond(tiny_http::Response::from_string("airflow says hello"));
        }
    });
    shared
        .lab
        .world
        .scenario(json!({"exec": exec_map(&shared.receiver), "forward": {"8080": format!("127.0.0.1:{port}")}}));

    let mut open =
        shared.devflow(&["open", "--print"]).command().stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut url = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(open.stdout.take().unwrap()), &mut url).unwrap();
    assert_eq!(url.trim(), format!("http://127.0.0.1:{}", shared.lab.port));
    for _ in 0..3 {
        let body = ureq::get(url.trim()).call().unwrap().body_mut().read_to_string().unwrap();
        assert_eq!(body, "airflow says hello");
    }
    let forwards = shared.lab.world.kube().requests().iter().filter(|r| r.contains("/portforward")).count();
    assert!(forwards >= 3, "one port-forward per connection");
    // SAFETY: SIGINT to the devflow this test started, as Ctrl-C would send.
    assert_eq!(unsafe { libc::kill(open.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(open.wait().unwrap().code(), Some(0));
}

/// On a shared cluster `db snapshot` and `db restore` go through the namespace's devflow
/// PostgreSQL, as on kind: a real PostgreSQL behind the pod's exec.
#[test]
fn db_snapshot_and_restore_use_the_namespaces_postgres() {
    let Some(shared) = Shared::new(test_name!()) else { return };
    let Some(postgres) = crate::database::Postgres::start(test_name!()) else { return };
    shared.devflow(&["up", "--no-watch"]).status(0).run();
    let mut exec = exec_map(&shared.receiver);
    exec["devflow-postgres"] = json!({"host": postgres.env(&[])});
    shared.lab.world.scenario(json!({"exec": exec}));
    postgres.psql("airflow", "CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
    shared.devflow(&["db", "snapshot", "shared"]).status(0).run();
    postgres.psql("airflow", "INSERT INTO t VALUES (2)");
    shared.devflow(&["db", "restore", "shared"]).status(0).stderr_contains("Restored snapshot shared").run();
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM t"), "1");
    let exec_path = format!("/namespaces/{}/pods/devflow-postgres-0/exec", namespace(&shared.lab));
    assert!(shared.lab.world.kube().requests().iter().any(|r| r.contains(&exec_path)), "exec in {exec_path}");
}
