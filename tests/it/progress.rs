//! What `up` shows while it works: each step's live line with the tool's own progress lines as
//! they come (the fakes print what kind, k3d and Helm print), a failed step kept and marked above
//! the error, `--verbose`'s record of every external command; and `shell`'s terminal, whose every
//! resize reaches the pod.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::lifecycle::Lab;
use crate::support::Expect;
use crate::test_name;

/// The lines of `text` that contain each of `expected`, in that order.
#[track_caller]
fn in_order(text: &str, expected: &[&str]) {
    let mut rest = text;
    for wanted in expected {
        let at = rest.find(wanted).unwrap_or_else(|| panic!("`{wanted}` (in this order) in:\n{text}"));
        rest = &rest[at + wanted.len()..];
    }
}

#[test]
fn the_cluster_step_shows_kinds_own_lines_and_verbose_lists_each_command_without_a_secret() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    let up = lab.devflow(&["up", "--no-watch", "--verbose"]).status(0).run();
    // Without a terminal each line is printed once, as it comes, under its step.
    in_order(
        &up.stderr,
        &[
            "  Creating the kind cluster",
            "    Creating cluster \"",
            "    • Ensuring node image (",
            "    ✓ Ensuring node image (",
            "    • Preparing nodes 📦",
            "    ✓ Starting control-plane",
            "$ kind create cluster --name ",
            "✓ Created cluster kind-",
            "  Installing the Airflow chart",
            "    Release \"",
            "$ helm upgrade --install airflow airflow",
            "✓ Installed the Airflow chart",
        ],
    );
    let kind = up.stderr.lines().find(|l| l.starts_with("$ kind create cluster")).unwrap();
    assert!(kind.contains(" < input  (") && kind.ends_with(", exit 0)"), "input, time and status: {kind}");
    assert!(up.stderr.lines().any(|l| l.starts_with("$ helm version")), "every command:\n{}", up.stderr);
    let password = lab.devflow(&["creds", "--json"]).status(0).run().json()["password"].as_str().unwrap().to_string();
    assert!(!up.stderr.contains(&password), "the admin password is never shown:\n{}", up.stderr);

    // Without --verbose, no command is listed.
    let again = lab.devflow(&["up", "--no-watch"]).status(0).run();
    assert!(!again.stderr.contains("$ "), "{}", again.stderr);
    lab.devflow(&["down", "--yes"]).status(0).run();
}

#[test]
fn the_k3d_cluster_step_shows_k3ds_own_info_lines() {
    let Some(lab) = Lab::new(test_name!(), "k3d") else { return };
    let up = lab.devflow(&["up", "--no-watch"]).status(0).run();
    in_order(
        &up.stderr,
        &[
            "  Creating the k3d cluster",
            "    INFO[",
            "] Prep: Network",
            "] Starting servers...",
            "✓ Created cluster k3d-",
        ],
    );
    assert!(!up.stderr.contains("\x1b["), "k3d's colours are not passed on:\n{}", up.stderr);
    lab.devflow(&["down", "--yes"]).status(0).run();
}

#[test]
fn a_failed_step_keeps_its_line_marked_above_the_error() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    let failure = "ERROR: failed to create cluster: failed to pull image \"kindest/node\"";
    lab.world.scenario(json!({"fail": {"kind create": failure}}));
    let up = lab.devflow(&["up", "--no-watch", "--timeout", "120s"]).status(1).run();
    in_order(&up.stderr, &["  Creating the kind cluster", "✗ Creating the kind cluster ", "\nerror: ", failure]);
    assert!(!up.stderr.contains("✓ Created cluster"), "{}", up.stderr);
    lab.world.scenario(json!({}));
    lab.devflow(&["down", "--yes"]).status(0).run();
}

#[test]
fn a_component_that_fails_keeps_its_line_marked_above_the_error() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.world.scenario(json!({"pods": {"scheduler": {"pull_error": crate::transient::MISSING_IMAGE}}}));
    let up = lab.devflow(&["up", "--no-watch", "--timeout", "120s"]).status(1).run();
    in_order(
        &up.stderr,
        &["✓ Installed the Airflow chart", "✗ scheduler      ErrImagePull  ", "\nerror: scheduler failed"],
    );
    lab.world.scenario(json!({}));
    lab.devflow(&["down", "--yes"]).status(0).run();
}

#[test]
fn under_json_a_failed_line_and_verbose_records_are_events_of_the_contract() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    let contract = crate::contract::Contract::load();
    lab.world.scenario(json!({"pods": {"scheduler": {"pull_error": crate::transient::MISSING_IMAGE}}}));
    let failing = lab.devflow(&["up", "--no-watch", "--json", "--timeout", "120s"]).status(1).run();
    contract.error("up", &failing, "environment");
    let failed: Vec<serde_json::Value> = failing
        .stderr
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "failed")
        .collect();
    assert!(failed.iter().any(|e| e["step"].as_str().unwrap().starts_with("scheduler ")), "{}", failing.stderr);

    lab.world.scenario(json!({}));
    let up = lab.devflow(&["up", "--no-watch", "--json", "--verbose"]).status(0).run();
    contract.lines("up", &up);
    // Nothing changed, so no create and no upgrade ran; the version checks did.
    assert!(up.stderr.contains(r#""event":"command","message":"helm version --short  ("#), "{}", up.stderr);
    lab.devflow(&["down", "--yes"]).status(0).run();
}

/// What a terminal has shown so far, read on a thread of its own.
fn screen(mut reader: Box<dyn Read + Send>) -> Arc<Mutex<String>> {
    let shown = Arc::new(Mutex::new(String::new()));
    let filled = shown.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 {
                break;
            }
            filled.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    shown
}

/// Waits (at most 30 s) until `done` holds.
#[track_caller]
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "no {what} within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn shell_on_a_terminal_gives_the_pod_its_size_and_every_resize() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let Some((lab, _container)) = crate::day2::up_with_scheduler(test_name!()) else { return };
    let size = |cols, rows| PtySize { rows, cols, pixel_width: 0, pixel_height: 0 };
    let pair = native_pty_system().openpty(size(80, 24)).expect("a pseudo-terminal");
    let devflow = lab.devflow(&["shell"]).command();
    let mut command = CommandBuilder::new(devflow.get_program());
    command.args(devflow.get_args());
    command.env_clear();
    for (key, value) in devflow.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    command.cwd(devflow.get_current_dir().expect("devflow runs in the project"));
    let mut shell = pair.slave.spawn_command(command).expect("devflow starts on the terminal");
    drop(pair.slave);
    let shown = screen(pair.master.try_clone_reader().unwrap());
    let mut keys = pair.master.take_writer().unwrap();
    // The answer, not the echo of the keys, shows the shell runs.
    keys.write_all(b"echo ready-$((6 * 7))\n").unwrap();
    until("shell", || shown.lock().unwrap().contains("ready-42"));

    pair.master.resize(size(100, 40)).unwrap();
    let resized = |width: u64, height: u64| {
        lab.world.kube().resizes().iter().any(|r| r["Width"] == width && r["Height"] == height && r["tty"] == true)
    };
    until("resize to 100x40 at the pod", || resized(100, 40));
    pair.master.resize(size(120, 30)).unwrap();
    until("resize to 120x30 at the pod", || resized(120, 30));
    let sizes: Vec<(u64, u64)> = lab
        .world
        .kube()
        .resizes()
        .iter()
        .map(|r| (r["Width"].as_u64().unwrap(), r["Height"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes.first(), Some(&(80, 24)), "the pod's terminal starts at the local size: {sizes:?}");

    keys.write_all(b"exit 3\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = shell.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = shell.kill();
            panic!("devflow shell did not end with the remote shell:\n{}", shown.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.exit_code(), 3u32, "{}", shown.lock().unwrap());
}
