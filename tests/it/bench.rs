//! Benchmarks of `up`, run by `scripts/bench-lifecycle.sh` (ignored in the test suite: they
//! measure, they do not assert times). devflow's own time is the wall time of `up` minus the time
//! spent inside the tools it runs, measured by a shim around each fake.

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::lifecycle::Lab;
use crate::support::Expect;
use crate::test_name;

const RUNS: usize = 10;

/// Wraps each fake in a shell shim that appends its start and end (ns) to a file.
fn time_the_tools(lab: &Lab) -> (std::ffi::OsString, std::path::PathBuf) {
    let shims = lab.world.temp().join("timed");
    std::fs::create_dir_all(&shims).unwrap();
    let times = lab.world.temp().join("tool-times");
    for tool in ["kind", "k3d", "helm"] {
        let shim = shims.join(tool);
        let real = lab.world.bin().join(tool);
        std::fs::write(
            &shim,
            format!(
                "#!/bin/sh\ns=$(date +%s%N)\n'{}' \"$@\"\nrc=$?\necho \"$s $(date +%s%N)\" >> '{}'\nexit $rc\n",
                real.display(),
                times.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let world_path = lab.world.env().into_iter().find(|(k, _)| k == "PATH").unwrap().1;
    let mut path = shims.into_os_string();
    path.push(":");
    path.push(world_path);
    (path, times)
}

fn tool_time(times: &std::path::Path) -> Duration {
    let text = std::fs::read_to_string(times).unwrap_or_default();
    let nanos: u64 = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(s, e)| e.parse::<u64>().unwrap() - s.parse::<u64>().unwrap())
        .sum();
    let _ = std::fs::remove_file(times);
    Duration::from_nanos(nanos)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[test]
#[ignore = "a benchmark: scripts/bench-lifecycle.sh runs it"]
fn bench_up() {
    let mut rows = Vec::new();
    for provider in ["kind", "k3d"] {
        let (mut first_wall, mut first_own, mut second_wall) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let lab = Lab::new(test_name!(), provider).expect("the benchmark needs Docker");
            // The fakes answer at once: nodes and pods are ready as soon as they exist.
            lab.world.scenario(json!({"node_ready_after_s": 0, "pod_ready_after_s": 0}));
            let (path, times) = time_the_tools(&lab);
            let up = || {
                let run = lab.devflow(&["up", "--no-watch"]).env("PATH", &path).status(0);
                let started = Instant::now();
                run.run();
                started.elapsed()
            };
            let wall = up();
            let tools = tool_time(&times);
            first_wall.push(wall);
            first_own.push(wall.saturating_sub(tools));
            second_wall.push(up());
            let _ = tool_time(&times);
            lab.devflow(&["down", "--yes"]).status(0).run();
        }
        rows.push(format!("| {provider} | `up` on a new project, wall | {} |", ms(median(first_wall))));
        rows.push(format!(
            "| {provider} | `up`, devflow's own time (wall minus the tools) | {} |",
            ms(median(first_own))
        ));
        rows.push(format!("| {provider} | second `up`, nothing changed, wall | {} |", ms(median(second_wall))));
    }
    println!("\n| provider | measure | median of {RUNS} |\n|---|---|---|\n{}", rows.join("\n"));
}

/// Save → reported, by this benchmark's own clock: 10 new files then 10 edits, one at a time.
fn reload_latencies(
    airflow: &crate::real_airflow::Airflow,
    watch: &crate::real_airflow::Watch,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::new();
    let mut not_parsed = 0;
    let dag = |id: &str, n: usize| {
        format!("from airflow.sdk import dag\n\n@dag(schedule=None)\ndef {id}():\n    pass\n\n{id}()\n# edit {n}\n")
    };
    for (n, id) in (0..20).map(|n| (n, format!("bench_{}", n % 10))) {
        let file = format!("{id}.py");
        let saved = Instant::now();
        std::fs::write(airflow.dags.join(&file), dag(&id, n)).unwrap();
        let report = watch.next(&file, Duration::from_secs(60));
        latencies.push(saved.elapsed());
        if report["status"] != "parsed" {
            not_parsed += 1;
        }
    }
    (latencies, not_parsed)
}

fn percentile(mut values: Vec<Duration>, p: f64) -> Duration {
    values.sort();
    values[((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Resident memory (kB) and CPU ticks of a process, from /proc.
fn rss_and_ticks(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (rss, fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap())
}

#[test]
#[ignore = "a benchmark: scripts/bench-reload.sh runs it"]
fn bench_reload() {
    use crate::real_airflow::{Airflow, Watch, venv};
    let venv = venv(test_name!()).expect("the benchmark needs the Airflow venv (scripts/airflow-venv.sh)");
    let mut rows = Vec::new();
    for (name, settings) in
        [("devflow's profile (refresh 1 s)", &crate::watch::DEV_SETTINGS[..]), ("Airflow's defaults", &[][..])]
    {
        let airflow = Airflow::start(&venv, settings);
        let watch = Watch::start(&airflow, airflow.home());
        let (latencies, not_parsed) = reload_latencies(&airflow, &watch);
        let (new, edits) = latencies.split_at(10);
        rows.push(format!(
            "| {name} | {} | {} | {} | {} | {not_parsed} |",
            secs(percentile(latencies.clone(), 0.5)),
            secs(percentile(latencies.clone(), 0.95)),
            secs(percentile(new.to_vec(), 0.5)),
            secs(percentile(edits.to_vec(), 0.5)),
        ));
        if settings.is_empty() {
            continue;
        }
        // Idle: nothing saved for 10 s.
        std::thread::sleep(Duration::from_secs(2));
        let (_, before) = rss_and_ticks(watch.pid());
        std::thread::sleep(Duration::from_secs(10));
        let (rss, after) = rss_and_ticks(watch.pid());
        let ticks_per_second = 100.0;
        rows.push(format!(
            "| idle watch, 10 s | resident memory {:.1} MB | CPU {:.1} % | | | |",
            rss as f64 / 1024.0,
            (after - before) as f64 / ticks_per_second / 10.0 * 100.0
        ));
    }
    println!(
        "\n| Airflow 3.3.2 settings | median, 20 saves | p95 | median, 10 new files | median, 10 edits | not parsed within 30 s |\n|---|---|---|---|---|---|\n{}",
        rows.join("\n")
    );
}

/// A DAG tree of `files` files of `size` bytes in 50 folders, of code-like lines that compress
/// about as much as real Python (threefold); no file has the words Airflow's safe mode looks for,
/// so the Airflow reading it parses none.
fn sync_tree(root: &std::path::Path, files: usize, size: usize) {
    const WORDS: [&str; 12] =
        ["def", "return", "import", "self", "value", "task", "load", "extract", "transform", "config", "name", "path"];
    let mut seed: u64 = 1;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    for n in 0..files {
        let folder = root.join(format!("team_{:02}", n % 50));
        std::fs::create_dir_all(&folder).unwrap();
        let mut text = String::with_capacity(size + 100);
        while text.len() < size {
            text.push_str("    ");
            for _ in 0..8 {
                text.push_str(&format!("{}{} ", WORDS[next() % WORDS.len()], next() % 1000));
            }
            text.push('\n');
        }
        text.truncate(size);
        std::fs::write(folder.join(format!("module_{n:04}.py")), text).unwrap();
    }
}

/// The `pushed` JSON lines `devflow watch --json` prints.
fn pushed_lines(lines: &std::sync::mpsc::Receiver<String>, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("a push within the time");
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
            && !value["pushed"].is_null()
        {
            return value["pushed"].clone();
        }
    }
}

#[test]
#[ignore = "a benchmark: scripts/bench-sync.sh runs it"]
fn bench_sync() {
    let venv = crate::real_airflow::venv(test_name!()).expect("the benchmark needs the Airflow venv");
    let shared = crate::existing::Shared::new(test_name!()).expect("the benchmark needs Docker");
    let (files, size) = (5000, 10 * 1024);
    let others = std::fs::read_dir(shared.dags()).unwrap().count() as u64;
    sync_tree(&shared.dags(), files, size);
    shared.devflow(&["up", "--no-watch"]).status(0).run();
    let millis = |v: &serde_json::Value, key: &str| Duration::from_secs_f64(v[key].as_f64().unwrap() / 1000.0);

    // Initial sync: a `devflow push` into an empty volume, 5 times. Each starts with the page
    // cache written back: otherwise the kernel throttles each run for the last one's 50 MB.
    let (mut prepared, mut total) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        for entry in std::fs::read_dir(&shared.volume).unwrap().flatten() {
            std::fs::remove_dir_all(entry.path()).unwrap_or_else(|_| std::fs::remove_file(entry.path()).unwrap());
        }
        // SAFETY: sync(2) takes no arguments and only flushes.
        unsafe { libc::sync() };
        let pushed = shared.devflow(&["push", "--json"]).status(0).run().json()["pushed"][0].clone();
        assert_eq!(pushed["uploaded"].as_u64(), Some(files as u64 + others), "{pushed}");
        prepared.push(millis(&pushed, "prepared"));
        total.push(millis(&pushed, "took"));
    }
    let bytes = shared.devflow(&["push", "--json"]).status(0).run().json()["pushed"][0]["bytes"].as_u64().unwrap();
    let mut rows = vec![format!(
        "| initial sync, {files} files / {:.0} MB | {} | {} |",
        (files * size) as f64 / 1e6,
        ms(median(prepared)),
        ms(median(total))
    )];

    // One changed file, pushed by the watch (which knows what the receiver holds).
    let _airflow = shared.airflow_behind_forward(&venv);
    let (mut watch, lines) = shared.spawn(&["watch", "--json"]);
    // The watch's first push lists the volume (it has not pushed to this receiver yet).
    let first = pushed_lines(&lines, Duration::from_secs(60));
    assert_eq!(first["full"], true, "{first}");
    let (mut prepared, mut total) = (Vec::new(), Vec::new());
    for n in 0..RUNS {
        std::fs::write(shared.dags().join("team_07/module_0007.py"), format!("# edit {n}\n")).unwrap();
        let pushed = pushed_lines(&lines, Duration::from_secs(30));
        assert_eq!((pushed["full"].as_bool(), pushed["uploaded"].as_u64()), (Some(false), Some(1)), "{pushed}");
        prepared.push(millis(&pushed, "prepared"));
        total.push(millis(&pushed, "took"));
        std::thread::sleep(Duration::from_millis(300));
    }
    rows.push(format!("| one changed file (the watch) | {} | {} |", ms(median(prepared)), ms(median(total))));
    // SAFETY: SIGINT to the devflow this benchmark started.
    unsafe { libc::kill(watch.id() as i32, libc::SIGINT) };
    let _ = watch.wait();
    println!(
        "\n| push | devflow's own time (scan + hash + tar), median | total with the exec round trips, median |\n|---|---|---|\n{}\n\n(tar of the initial sync: {:.1} MB; the receiver is a busybox container reached through the fake API's exec)",
        rows.join("\n"),
        bytes as f64 / 1e6
    );
}

/// What Airflow recorded for each DAG: (last_parsed_time, last_parse_duration in seconds).
fn parse_records(airflow: &crate::real_airflow::Airflow) -> std::collections::HashMap<String, (SystemTime, f64)> {
    let dags = crate::run::api_get(airflow, "/api/v2/dags?limit=1000").expect("Airflow lists its DAGs");
    let record = |d: &serde_json::Value| {
        let at: jiff::Timestamp = d["last_parsed_time"].as_str()?.parse().ok()?;
        Some((d["dag_id"].as_str()?.to_string(), (SystemTime::from(at), d["last_parse_duration"].as_f64()?)))
    };
    dags["dags"].as_array().unwrap().iter().filter_map(record).collect()
}

fn dag_file(id: &str, edit: usize) -> String {
    format!("from airflow.sdk import dag\n\n@dag(schedule=None)\ndef {id}():\n    pass\n\n{id}()\n# edit {edit}\n")
}

/// One batch of 30 new files written at once: devflow's time until the last report and each
/// report's lag after Airflow's record of the parse; Airflow's own times from its records.
struct Batch {
    devflow: Duration,
    /// From the save to Airflow's last `last_parsed_time` of the batch.
    airflow: Duration,
    /// From the earliest parse start (`last_parsed_time - last_parse_duration`) to the last record.
    airflow_parsing: Duration,
    lags: Vec<Duration>,
}

fn batch_of_30(airflow: &crate::real_airflow::Airflow, watch: &crate::real_airflow::Watch, round: usize) -> Batch {
    let ids: Vec<String> = (0..30).map(|n| format!("batch_{round}_{n:02}")).collect();
    let saved = SystemTime::now();
    let started = Instant::now();
    for id in &ids {
        std::fs::write(airflow.dags.join(format!("{id}.py")), dag_file(id, 0)).unwrap();
    }
    let mut reported = std::collections::HashMap::new();
    while reported.len() < ids.len() {
        let report = watch.any(Duration::from_secs(90)).expect("a report for each of the 30 files");
        let id = report["file"].as_str().unwrap().trim_end_matches(".py").to_string();
        assert_eq!(report["status"], "parsed", "{report}");
        reported.insert(id, SystemTime::now());
    }
    let devflow = started.elapsed();
    let records = parse_records(airflow);
    let mine: Vec<(SystemTime, f64)> = ids.iter().map(|id| records[id]).collect();
    let last = mine.iter().map(|(at, _)| *at).max().unwrap();
    let first_start = mine.iter().map(|(at, took)| *at - Duration::from_secs_f64(*took)).min().unwrap();
    let lags = ids.iter().map(|id| reported[id].duration_since(records[id].0).unwrap_or_default()).collect();
    Batch {
        devflow,
        airflow: last.duration_since(saved).unwrap_or_default(),
        airflow_parsing: last.duration_since(first_start).unwrap_or_default(),
        lags,
    }
}

/// Edits of known files, one at a time: each report's lag after Airflow's record of the parse.
fn single_edit_lags(airflow: &crate::real_airflow::Airflow, watch: &crate::real_airflow::Watch) -> Vec<Duration> {
    (0..10)
        .map(|n| {
            let id = format!("batch_0_{n:02}");
            std::fs::write(airflow.dags.join(format!("{id}.py")), dag_file(&id, n + 1)).unwrap();
            let report = watch.next(&format!("{id}.py"), Duration::from_secs(60));
            let reported = SystemTime::now();
            assert_eq!(report["status"], "parsed", "{report}");
            reported.duration_since(parse_records(airflow)[&id].0).unwrap_or_default()
        })
        .collect()
}

/// Issue 12's batch and lag benchmarks, against an Airflow that writes bytecode into the DAG
/// folder as it parses (no PYTHONDONTWRITEBYTECODE) with devflow's profile settings.
#[test]
#[ignore = "a benchmark: scripts/bench-reload.sh runs it"]
fn bench_reload_batch() {
    use crate::real_airflow::{Airflow, Watch, venv};
    let venv = venv(test_name!()).expect("the benchmark needs the Airflow venv (scripts/airflow-venv.sh)");
    let airflow = Airflow::start(&venv, &crate::watch::DEV_SETTINGS);
    let watch = Watch::start(&airflow, airflow.home());
    let batches: Vec<Batch> = (0..3).map(|round| batch_of_30(&airflow, &watch, round)).collect();
    let mut rows = Vec::new();
    for (n, b) in batches.iter().enumerate() {
        rows.push(format!(
            "| batch {} of 30 new files | {} | {} | {} | {:.2}× |",
            n + 1,
            secs(b.devflow),
            secs(b.airflow),
            secs(b.airflow_parsing),
            b.devflow.as_secs_f64() / b.airflow.as_secs_f64()
        ));
    }
    println!(
        "\n| Airflow 3.3.2, devflow's profile | devflow: save → last report | Airflow: save → last parse recorded | Airflow: first parse start → last parse recorded | devflow / Airflow |\n|---|---|---|---|---|\n{}",
        rows.join("\n")
    );
    let batch_lags: Vec<Duration> = batches.iter().flat_map(|b| b.lags.clone()).collect();
    let single = single_edit_lags(&airflow, &watch);
    let lag_row = |name: &str, lags: &[Duration]| {
        format!(
            "| {name} | {} | {} | {} | {} |",
            lags.len(),
            secs(percentile(lags.to_vec(), 0.5)),
            secs(percentile(lags.to_vec(), 0.95)),
            secs(percentile(lags.to_vec(), 1.0))
        )
    };
    println!(
        "\n| Airflow's `last_parsed_time` → devflow's report (Airflow writes bytecode) | reports | median | p95 | max |\n|---|---|---|---|---|\n{}\n{}",
        lag_row("files of the 3 batches", &batch_lags),
        lag_row("edits of a known file, one at a time", &single)
    );
}
