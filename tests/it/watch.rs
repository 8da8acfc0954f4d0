//! `devflow watch` against real Airflow 3 (tier 6): every kind of change reported as Airflow saw it.

use std::time::Duration;

use serde_json::json;

use std::process::Stdio;

use crate::lifecycle::Lab;
use crate::real_airflow::{Airflow, PASSWORD, Watch, venv};
use crate::support::Expect;
use crate::test_name;

/// The dev profile's parse settings.
pub const DEV_SETTINGS: [(&str, &str); 2] = [("refresh_interval", "1"), ("bundle_refresh_check_interval", "1")];

const TWO_DAGS: &str = "from airflow.sdk import dag\n\n@dag(schedule=None)\ndef etl_daily():\n    pass\n\n@dag(schedule=None)\ndef etl_hourly():\n    pass\n\netl_daily()\netl_hourly()\n";

#[test]
fn watch_reports_every_kind_of_change_as_real_airflow_parses_it() {
    let Some(venv) = venv(test_name!()) else { return };
    let airflow = Airflow::start(&venv, &DEV_SETTINGS);
    let watch = Watch::start(&airflow, airflow.home());
    let write = |file: &str, text: &str| std::fs::write(airflow.dags.join(file), text).unwrap();
    let soon = Duration::from_secs(20);

    // A new file with two DAGs.
    write("etl.py", TWO_DAGS);
    let report = watch.next("etl.py", soon);
    assert_eq!(
        (report["status"].clone(), report["dags"].clone()),
        (json!("parsed"), json!(["etl_daily", "etl_hourly"]))
    );
    assert!(report["seconds_after_save"].as_f64().unwrap() < 10.0, "{report}");

    // An edit of a known file: reparsed on request.
    write("etl.py", &TWO_DAGS.replace("etl_hourly", "etl_every_hour"));
    let report = watch.next("etl.py", soon);
    assert_eq!(
        (report["status"].clone(), report["dags"].clone()),
        (json!("parsed"), json!(["etl_daily", "etl_every_hour"]))
    );

    // A syntax error, with its line.
    write("broken.py", "from airflow.sdk import dag\n\n\ndef oops(:\n    pass\n");
    let report = watch.next("broken.py", soon);
    assert_eq!(report["status"], "error", "{report}");
    assert_eq!(report["line"], 4, "{report}");
    assert!(report["error"].as_str().unwrap().starts_with("SyntaxError"), "{report}");

    // An import error, with its line.
    write("needs_foo.py", "from airflow.sdk import dag\nimport json\nimport foo_not_installed\n");
    let report = watch.next("needs_foo.py", soon);
    assert_eq!(report["status"], "error", "{report}");
    assert_eq!(report["error"], "ModuleNotFoundError: No module named 'foo_not_installed'");
    assert_eq!(report["line"], 3);

    // The error fixed: parsed.
    write("needs_foo.py", "from airflow.sdk import dag\n\n@dag(schedule=None)\ndef fixed():\n    pass\n\nfixed()\n");
    let report = watch.next("needs_foo.py", soon);
    assert_eq!((report["status"].clone(), report["dags"].clone()), (json!("parsed"), json!(["fixed"])));

    // A deleted file: the DAGs Airflow listed for it go away. Airflow may still list the DAG the
    // edit renamed (etl_hourly) until its processor marks it stale.
    std::fs::remove_file(airflow.dags.join("etl.py")).unwrap();
    let report = watch.next("etl.py", soon);
    assert_eq!(report["status"], "removed");
    let gone = report["dags"].clone();
    assert!(
        gone == json!(["etl_daily", "etl_every_hour"]) || gone == json!(["etl_daily", "etl_every_hour", "etl_hourly"]),
        "{report}"
    );

    // Files Airflow will not parse, said at once.
    write(".airflowignore", "scratch_*.py\n");
    write("scratch_idea.py", TWO_DAGS);
    let report = watch.next("scratch_idea.py", soon);
    assert_eq!(report["status"], "not_parsed");
    assert_eq!(report["error"], "ignored: .airflowignore has `scratch_*.py`");
    write("helpers.py", "def add(a, b):\n    return a + b\n");
    let report = watch.next("helpers.py", soon);
    assert_eq!(report["status"], "not_parsed");
    assert!(report["error"].as_str().unwrap().contains("dag_discovery_safe_mode"), "{report}");

    // Editor scratch files and Airflow's own reads are not changes: nothing more is reported.
    write(".etl.py.swp", "x");
    assert!(
        watch.lines_within(Duration::from_secs(3)).is_empty(),
        "a scratch file and Airflow reading files must not be reported (watch pid {})",
        watch.pid()
    );
}

#[test]
fn up_stays_to_watch_the_projects_dags_and_plugins() {
    let Some(venv) = venv(test_name!()) else { return };
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    std::fs::create_dir(lab.test().dir().join("plugins")).unwrap();
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let password = lab.devflow(&["creds", "--json"]).status(0).run().json()["password"].as_str().unwrap().to_string();
    // The fake cluster maps no port: a real Airflow stands in for the chart's, on the UI port,
    // reading the project's DAG folder as the mount would show it.
    let dags = lab.test().dir().join("dags");
    let _airflow = Airflow::start_with(&venv, &DEV_SETTINGS, Some(&dags), lab.port, &password);

    let mut up = lab.devflow(&["up"]).command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let lines = merged_lines(&mut up);
    let wait_for = |text: &str| wait_for(&lines, text);
    wait_for("Airflow is up: http://127.0.0.1:");
    std::thread::sleep(Duration::from_secs(3));
    std::fs::write(
        dags.join("hello.py"),
        "from airflow.sdk import dag\n\n@dag(schedule=None)\ndef hello():\n    pass\n\nhello()\n",
    )
    .unwrap();
    let line = wait_for("dags/hello.py");
    assert!(line.starts_with("✓ dags/hello.py  hello  ") && line.ends_with(" s after save"), "{line}");

    // A plugin change restarts the components that load plugins, and waits for them.
    std::fs::write(lab.test().dir().join("plugins/my_plugin.py"), "# a plugin\n").unwrap();
    let line = wait_for("plugins changed");
    assert_eq!(line, "note: plugins changed (my_plugin.py): restarting the components that load them");
    let line = wait_for("Restarted");
    assert!(line.starts_with("✓ Restarted: the new plugins are loaded"), "{line}");
    let deleted: Vec<String> = lab
        .world
        .kube()
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("DELETE /api/v1/namespaces/airflow/pods?"))
        .collect();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert!(
        deleted[0].contains("component+in+%28api-server%2Cscheduler%2Cdag-processor%2Ctriggerer%29")
            || deleted[0].contains("component%20in%20"),
        "{deleted:?}"
    );

    // A changed setting in devflow.toml: `up` applies the difference (a Helm upgrade, no new cluster).
    let toml = lab.test().dir().join("devflow.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}\n[airflow.set]\n\"scheduler.replicas\" = 1\n")).unwrap();
    let line = wait_for("changed (devflow.toml)");
    assert_eq!(
        line,
        "note: the project's settings or image files changed (devflow.toml): running `devflow up` to apply the difference"
    );
    wait_for("✓ Applied: Airflow runs the new settings");
    assert_eq!((lab.calls("kind", &["create"]).len(), lab.calls("helm", &["upgrade"]).len()), (1, 2));

    // Ctrl-C ends the watch quietly.
    // SAFETY: sends SIGINT, as Ctrl-C on a terminal does, to the devflow this test started.
    assert_eq!(unsafe { libc::kill(up.id() as i32, libc::SIGINT) }, 0);
    let status = up.wait().unwrap();
    assert_eq!(status.code(), Some(0), "stopping the watch is how it ends");
}

/// Results on standard output, progress on standard error: one stream of lines to read.
fn merged_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (stdout, stderr) = (read_lines(child.stdout.take().unwrap()), read_lines(child.stderr.take().unwrap()));
    let (tx, rx) = std::sync::mpsc::channel();
    for source in [stdout, stderr] {
        let tx = tx.clone();
        std::thread::spawn(move || source.iter().try_for_each(|line| tx.send(line)));
    }
    rx
}

/// The next line with `text`, waiting at most a minute for each line.
fn wait_for(lines: &std::sync::mpsc::Receiver<String>, text: &str) -> String {
    wait_within(lines, text, Duration::from_secs(60))
}

/// The next line with `text`, waiting at most `each` for each line.
fn wait_within(lines: &std::sync::mpsc::Receiver<String>, text: &str, each: Duration) -> String {
    loop {
        let line = lines.recv_timeout(each).unwrap_or_else(|_| panic!("no line with {text:?}"));
        if line.contains(text) {
            return line;
        }
    }
}

/// The first line with each of `texts`, in whichever order they come, waiting at most `each` for
/// each line.
fn wait_for_each<const N: usize>(
    lines: &std::sync::mpsc::Receiver<String>,
    texts: [&str; N],
    each: Duration,
) -> [String; N] {
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    while found.iter().any(Option::is_none) {
        let missing: Vec<&str> = texts.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(t, _)| *t).collect();
        let line = lines.recv_timeout(each).unwrap_or_else(|_| panic!("no line with {missing:?}"));
        if let Some(slot) =
            texts.iter().zip(found.iter_mut()).find(|(t, f)| f.is_none() && line.contains(**t)).map(|(_, f)| f)
        {
            *slot = Some(line);
        }
    }
    found.map(Option::unwrap_or_default)
}

fn read_lines(stdout: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// issue 9, item 17: a change that makes the watch run `up` again runs it with the flags `up` was
/// started with, so it applies the change and nothing else (before, `--set`, `--profile`,
/// `--values` and `--provider` were dropped, and the release lost what they set).
#[test]
fn a_settings_change_runs_up_again_with_the_flags_up_was_given() {
    let name = test_name!();
    let Some(venv) = venv(name) else { return };
    let Some(lab) = Lab::new(name, "kind") else { return };
    let set = ["--set", "scheduler.replicas=1"];
    lab.devflow(&["up", "--no-watch", set[0], set[1]]).status(0).run();
    let password = lab.devflow(&["creds", "--json"]).status(0).run().json()["password"].as_str().unwrap().to_string();
    let dags = lab.test().dir().join("dags");
    let _airflow = Airflow::start_with(&venv, &DEV_SETTINGS, Some(&dags), lab.port, &password);

    let mut up =
        lab.devflow(&["up", set[0], set[1]]).command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let lines = merged_lines(&mut up);
    let wait_for = |text: &str| wait_for(&lines, text);
    wait_for("Watching dags for Airflow");
    // devflow.toml is saved with nothing changed in it but a comment.
    let toml = lab.test().dir().join("devflow.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}# saved again\n")).unwrap();
    wait_for("changed (devflow.toml)");
    wait_for("note: nothing changed: no cluster was created and no Helm upgrade ran");
    wait_for("✓ Applied: Airflow runs the new settings");
    assert_eq!(lab.calls("helm", &["upgrade"]).len(), 1, "the watch's `up` kept --set: no upgrade to undo it");
    let values = std::fs::read_to_string(lab.state_dir().join("values.yaml")).unwrap();
    let scheduler = values.split("\nscheduler:\n").nth(1).expect("scheduler values");
    assert!(scheduler.lines().take_while(|l| l.starts_with(' ')).any(|l| l.trim() == "replicas: 1"), "{values}");

    // SAFETY: sends SIGINT, as Ctrl-C on a terminal does, to the devflow this test started.
    assert_eq!(unsafe { libc::kill(up.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(up.wait().unwrap().code(), Some(0));
}

/// issue 9, item 19: Airflow 2.11 configured as the chart 1.22.0 configures it (no `[api]
/// auth_backends`, so the session backend alone) answers the watch's basic auth with 403; the
/// watch says that the API takes no basic auth, and how to fix it, and tells a wrong password
/// apart. With devflow's airflow2 wiring, the watch reports a new DAG as Airflow 2 parses it.
#[test]
fn airflow2_as_the_chart_configures_it_and_as_devflow_wires_it() {
    let name = test_name!();
    let Some(venv) = crate::real_airflow::venv_airflow2(name) else { return };
    let watch = |airflow: &Airflow, password: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_devflow"))
            .args(["watch", "--airflow-url", &airflow.url, "--dags"])
            .arg(&airflow.dags)
            .env("AIRFLOW_PASSWORD", password)
            .env("NO_COLOR", "1")
            .current_dir(airflow.home())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let chart = Airflow::start_airflow2(&venv, None, PASSWORD);
    let (code, stderr) = watch(&chart, PASSWORD);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("takes the user `admin` and its password, but its API refuses basic auth (403)"),
        "{stderr}"
    );
    assert!(stderr.contains("auth_backends"), "{stderr}");
    let (code, stderr) = watch(&chart, "not-the-password");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("refused the login of `admin` (403): the user or password is wrong"), "{stderr}");
    drop(chart);

    let wired = Airflow::start_airflow2(&venv, Some(crate::real_airflow::AIRFLOW2_AUTH_BACKENDS), PASSWORD);
    let watch = Watch::start(&wired, wired.home());
    std::fs::write(
        wired.dags.join("hello.py"),
        "from airflow.decorators import dag\n\n@dag(schedule=None)\ndef hello():\n    pass\n\nhello()\n",
    )
    .unwrap();
    let report = watch.next("hello.py", Duration::from_secs(90));
    assert_eq!((report["status"].clone(), report["dags"].clone()), (json!("parsed"), json!(["hello"])), "{report}");
}

/// issue 9, item 17: when Airflow stops answering while the watch follows a file, one line says
/// so (before, a warning a second), and one says when it is back; the file is then reported.
/// Ctrl-C ends the watch with 0, as the README says.
#[test]
fn an_airflow_that_stops_answering_is_said_once_and_again_when_it_is_back() {
    let Some(venv) = venv(test_name!()) else { return };
    let project = tempfile::Builder::new().prefix("devflow-outage").tempdir().unwrap();
    let dags = project.path().join("dags");
    std::fs::create_dir(&dags).unwrap();
    let port = crate::lifecycle::free_port();
    let airflow = Airflow::start_with(&venv, &DEV_SETTINGS, Some(&dags), port, PASSWORD);
    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_devflow"))
        .args(["watch", "--airflow-url", &airflow.url, "--dags", "dags"])
        .env("AIRFLOW_PASSWORD", PASSWORD)
        .env("NO_COLOR", "1")
        .current_dir(project.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = merged_lines(&mut watch);
    // A failed assertion must not leave the watch running: the guard kills and reaps it.
    struct Stop(Option<std::process::Child>);
    impl Drop for Stop {
        fn drop(&mut self) {
            if let Some(mut child) = self.0.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let mut stop = Stop(Some(watch));
    wait_for(&lines, "Watching dags for Airflow");
    drop(airflow);
    std::fs::write(
        dags.join("hello.py"),
        "from airflow.sdk import dag\n\n@dag(schedule=None)\ndef hello():\n    pass\n\nhello()\n",
    )
    .unwrap();
    let line = wait_for(&lines, "does not answer");
    assert!(line.starts_with(&format!("! Airflow at http://127.0.0.1:{port} does not answer (")), "{line}");
    let during: Vec<String> = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(8)).ok()).collect();
    assert!(during.is_empty(), "nothing more is said while Airflow is away: {during:?}");

    let _back = Airflow::start_with(&venv, &DEV_SETTINGS, Some(&dags), port, PASSWORD);
    // The two lines come on two streams (progress on stderr, the report on stdout), read by two
    // threads: on a busy machine either may reach the test first. A fresh Airflow's dag-processor
    // takes its time to start.
    let [back, report] = wait_for_each(&lines, ["answers again", "dags/hello.py"], Duration::from_secs(180));
    assert!(back.starts_with(&format!("✓ Airflow at http://127.0.0.1:{port} answers again (after ")), "{back}");
    assert!(report.starts_with("✓ dags/hello.py  hello  "), "{report}");
    let mut watch = stop.0.take().unwrap();
    // SAFETY: sends SIGINT, as Ctrl-C on a terminal does, to the devflow this test started.
    assert_eq!(unsafe { libc::kill(watch.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(watch.wait().unwrap().code(), Some(0), "Ctrl-C is how a watch ends: 0, as the README says");
}

/// issue 9, item 19: Airflow 3 with the FAB auth manager, as the chart configures it, and its
/// admin made by `airflow users create`: the watch logs in at `/auth/token` and reports a new DAG;
/// a wrong password is said to be one.
#[test]
fn watch_on_airflow3_with_the_fab_auth_manager_as_the_chart_configures_it() {
    let Some(venv) = venv(test_name!()) else { return };
    let airflow = Airflow::start_fab(&venv, &DEV_SETTINGS, PASSWORD);
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_devflow"))
        .args(["watch", "--airflow-url", &airflow.url, "--dags"])
        .arg(&airflow.dags)
        .env("AIRFLOW_PASSWORD", "not-the-password")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the login of `admin` (401): the user or password is wrong"), "{stderr}");

    let watch = Watch::start(&airflow, airflow.home());
    std::fs::write(airflow.dags.join("etl.py"), TWO_DAGS).unwrap();
    let report = watch.next("etl.py", Duration::from_secs(30));
    assert_eq!(
        (report["status"].clone(), report["dags"].clone()),
        (json!("parsed"), json!(["etl_daily", "etl_hourly"]))
    );
}

/// issue 12, item 2: the watch says what Airflow knows. Before, the import errors at start were
/// only counted, a second file declaring an existing dag_id was a plain `✓`, parse times and DAG
/// warnings were not shown, and a folder Airflow does not read gave only a 30 s "not parsed".
#[test]
fn watch_says_what_airflow_knows_about_each_file() {
    let Some(venv) = venv(test_name!()) else { return };
    let airflow = Airflow::start(&venv, &DEV_SETTINGS);
    let write = |file: &str, text: &str| std::fs::write(airflow.dags.join(file), text).unwrap();
    let dag = |id: &str| {
        format!("from airflow.sdk import dag\n\n@dag(dag_id={id:?}, schedule=None)\ndef make():\n    pass\n\nmake()\n")
    };
    write("broken_at_start.py", "from airflow.sdk import dag\nimport not_installed_anywhere\n");
    write("first.py", &dag("shared"));
    crate::run::wait_for_dags(&airflow, &["shared"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while crate::run::api_get(&airflow, "/api/v2/importErrors").is_none_or(|e| e["total_entries"] != 1) {
        assert!(std::time::Instant::now() < deadline, "Airflow did not record the import error within 60 s");
        std::thread::sleep(Duration::from_millis(300));
    }
    let watch = Watch::start(&airflow, airflow.home());
    let soon = Duration::from_secs(30);

    // The import error Airflow had at start, listed with its message and line.
    let report = watch.next("broken_at_start.py", soon);
    assert_eq!(
        (report["status"].clone(), report["before_watch"].clone(), report["line"].clone()),
        (json!("error"), json!(true), json!(2)),
        "{report}"
    );
    assert_eq!(report["error"], "ModuleNotFoundError: No module named 'not_installed_anywhere'");

    // A second file with the same dag_id: parsed, and said to be a duplicate.
    write("second.py", &dag("shared"));
    let report = watch.next("second.py", soon);
    assert_eq!((report["status"].clone(), report["dags"].clone()), (json!("parsed"), json!(["shared"])), "{report}");
    assert_eq!(
        report["warnings"],
        json!([
            "duplicate: `shared` is also defined in dags/first.py; Airflow keeps the one it parsed last and will keep switching between the two files"
        ])
    );

    // The parse time, and a slow parse flagged.
    write("slow.py", &format!("import time\ntime.sleep(2.5)\n{}", dag("slow_top_level")));
    let report = watch.next("slow.py", soon);
    assert_eq!(report["status"], "parsed", "{report}");
    let parse = report["parse_seconds"].as_f64().unwrap_or_else(|| panic!("no parse time: {report}"));
    assert!(parse >= 2.5, "{report}");
    assert!(report["warnings"][0].as_str().unwrap().starts_with("slow: the parse took"), "{report}");
    write("quick.py", &dag("quick"));
    let report = watch.next("quick.py", soon);
    assert!(report["parse_seconds"].as_f64().is_some_and(|p| p < 2.0) && report["warnings"].is_null(), "{report}");

    // Airflow's DAG warnings: a value that changes at every parse in the DAG's arguments
    // (Airflow 3.2+'s `[dag_processor] dag_version_inflation_check_level`, "warning" by default;
    // 3.3.2's dag-processor gives its DagBag no pools, so it never warns of a non-existent one).
    write(
        "varying.py",
        "from datetime import datetime\nfrom airflow.sdk import DAG\n\nwith DAG(dag_id=\"varying\", schedule=None, start_date=datetime.now()):\n    pass\n",
    );
    let report = watch.next("varying.py", soon);
    assert_eq!(report["status"], "parsed", "{report}");
    let warnings = report["warnings"].as_array().unwrap_or_else(|| panic!("no DAG warning: {report}"));
    assert!(warnings.iter().any(|w| w.as_str().unwrap().starts_with("`varying`: runtime varying value: ")), "{report}");

    // A DAG folder none of whose files Airflow knows: said at once, with the folder it reads.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut wrong = std::process::Command::new(env!("CARGO_BIN_EXE_devflow"))
        .args(["watch", "--airflow-url", &airflow.url, "--dags"])
        .arg(elsewhere.path())
        .env("AIRFLOW_PASSWORD", crate::real_airflow::PASSWORD)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = read_lines(wrong.stderr.take().unwrap());
    let line = wait_for(&lines, "none from a file in");
    let _ = wrong.kill();
    let _ = wrong.wait();
    assert_eq!(
        line,
        format!(
            "! Airflow has 4 DAGs, none from a file in {}: Airflow reads {}",
            elsewhere.path().display(),
            airflow.dags.display()
        )
    );
}

/// Issue 12 item 3: Airflow writes `__pycache__/*.pyc` into the DAG folder as it parses (this
/// Airflow runs without PYTHONDONTWRITEBYTECODE), and editors write scratch files. Such events,
/// here a steady stream every 100 ms on top of Airflow's own, used to keep the watch from asking
/// Airflow at all while they lasted: no report came until they stopped.
#[test]
fn ignored_events_never_postpone_asking_airflow() {
    let Some(venv) = venv(test_name!()) else { return };
    let airflow = Airflow::start(&venv, &DEV_SETTINGS);
    let dags = airflow.dags.clone();
    let write = |file: &str, text: &str| std::fs::write(dags.join(file), text).unwrap();
    let dag =
        |id: &str| format!("from airflow.sdk import dag\n\n@dag(schedule=None)\ndef {id}():\n    pass\n\n{id}()\n");
    write("known.py", &dag("known"));
    crate::run::wait_for_dags(&airflow, &["known"]);
    let watch = Watch::start(&airflow, airflow.home());

    let noise = Noise::start(&dags);
    let soon = Duration::from_secs(20);
    write("fresh.py", &dag("fresh"));
    let report = watch.next("fresh.py", soon);
    assert_eq!((report["status"].clone(), report["dags"].clone()), (json!("parsed"), json!(["fresh"])), "{report}");
    for round in 0..3 {
        write("known.py", &format!("{}# edit {round}\n", dag("known")));
        let report = watch.next("known.py", soon);
        let reported = std::time::SystemTime::now();
        assert_eq!(report["status"], "parsed", "{report}");
        let dag = crate::run::api_get(&airflow, "/api/v2/dags/known").unwrap();
        let parsed: jiff::Timestamp = dag["last_parsed_time"].as_str().unwrap().parse().unwrap();
        let lag = reported.duration_since(parsed.into()).unwrap_or_default();
        assert!(lag < Duration::from_millis(1500), "reported {lag:?} after Airflow's parse: {report}");
    }
    assert!(noise.writes() > 20, "the noise ran: {} writes", noise.writes());
}

/// Writes a `.pyc` and an editor's swap file into the DAG folder every 100 ms while it lives.
struct Noise {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Noise {
    fn start(dags: &std::path::Path) -> Noise {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let cache = dags.join("__pycache__");
        std::fs::create_dir_all(&cache).unwrap();
        let swap = dags.join(".known.py.swp");
        let (flag, count) = (stop.clone(), writes.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let n = count.fetch_add(1, Ordering::Relaxed);
                let _ = std::fs::write(cache.join(format!("noise{}.cpython-312.pyc", n % 5)), n.to_string());
                let _ = std::fs::write(&swap, n.to_string());
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Noise { stop, writes }
    }

    fn writes(&self) -> usize {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Noise {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Issue 12 item 4: a branch switch that changes many known files is one batch whose reparses
/// are asked for in one pass, and whose summary gives the batch's total: from the first save to
/// the last report, no later than Airflow's own last parse of the batch allows.
#[test]
fn a_branch_switch_is_one_batch_with_its_total() {
    let Some(venv) = venv(test_name!()) else { return };
    let airflow = Airflow::start(&venv, &DEV_SETTINGS);
    let ids: Vec<String> = (0..12).map(|n| format!("branch_{n:02}")).collect();
    let dag = |id: &str, edit: &str| {
        format!("from airflow.sdk import dag\n\n@dag(schedule=None)\ndef {id}():\n    pass\n\n{id}()\n# {edit}\n")
    };
    for id in &ids {
        std::fs::write(airflow.dags.join(format!("{id}.py")), dag(id, "main")).unwrap();
    }
    crate::run::wait_for_dags(&airflow, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_devflow"))
        .args(["watch", "--airflow-url", &airflow.url, "--dags"])
        .arg(&airflow.dags)
        .env("AIRFLOW_PASSWORD", crate::real_airflow::PASSWORD)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = merged_lines(&mut watch);
    wait_for(&lines, "Watching");
    std::thread::sleep(Duration::from_secs(1));

    let switched = std::time::SystemTime::now();
    for id in &ids {
        std::fs::write(airflow.dags.join(format!("{id}.py")), dag(id, "feature")).unwrap();
    }
    let summary = wait_within(&lines, "12 files:", Duration::from_secs(60));
    let _ = watch.kill();
    let _ = watch.wait();
    let total: f64 = summary
        .split("all reported ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no total in {summary:?}"));
    assert!(summary.starts_with("note: 12 files: 12 parsed; all reported "), "{summary}");
    let last_parse = ids
        .iter()
        .map(|id| {
            let dag = crate::run::api_get(&airflow, &format!("/api/v2/dags/{id}")).unwrap();
            let at: jiff::Timestamp = dag["last_parsed_time"].as_str().unwrap().parse().unwrap();
            std::time::SystemTime::from(at).duration_since(switched).unwrap_or_default()
        })
        .max()
        .unwrap();
    assert!(
        total <= last_parse.as_secs_f64() + 1.0,
        "the batch took {total} s, Airflow's last parse came {last_parse:?} after the switch: {summary}"
    );
}
