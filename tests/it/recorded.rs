//! The fakes against what a real cluster said (`tests/fixtures/recorded/`, written by
//! `scripts/e2e.sh --record`; see its README for which files are hand-written from the sources
//! until a real run replaces them): every field path the recorded pods, jobs and Helm outputs
//! have, the fakes produce too, in a fake `up` that goes through the same states.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::lifecycle::Lab;
use crate::support::{Expect, fixtures};
use crate::test_name;

/// The dotted paths of an object's fields with a value (`a.b[].c`); label and annotation keys,
/// which name things rather than shape them, and nulls (no information) are left out.
fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                if matches!(k.as_str(), "labels" | "annotations" | "config" | "uncountedTerminatedPods") {
                    out.insert(path);
                    continue;
                }
                paths(v, &path, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| paths(v, &format!("{prefix}[]"), out)),
        Value::Null => {}
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// The shapes of one kind of object: the paths of its `status` (and the metadata devflow reads).
/// `kind`: pick the items of that kind (kubectl's mixed List); None: all (an API list, whose
/// items carry no `kind`).
fn shapes_of(items: &[Value], kind: Option<&str>, out: &mut BTreeSet<String>) {
    for item in items.iter().filter(|i| kind.is_none_or(|k| i["kind"] == k)) {
        let mut all = BTreeSet::new();
        paths(item, "", &mut all);
        out.extend(all.into_iter().filter(|p| {
            p.starts_with("status") || p.starts_with("metadata.ownerReferences") || p.starts_with("metadata.labels")
        }));
    }
}

fn recorded(provider: &str) -> Vec<(String, Value)> {
    let dir = fixtures().join("recorded").join(provider);
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| (name_of(&p), serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn name_of(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().to_string()
}

/// The items of a list the fake API serves (none while it cannot answer).
fn items(lab: &Lab, path: &str) -> Vec<Value> {
    let url = format!("{}{path}", lab.world.kube().url());
    let text = ureq::get(&url).call().ok().and_then(|mut r| r.body_mut().read_to_string().ok());
    let list: Value = text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    list["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_fakes_produce_the_shapes_the_real_cluster_does() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    let files = recorded("kind");
    let (mut real_pods, mut real_jobs) = (BTreeSet::new(), BTreeSet::new());
    for (name, value) in files.iter().filter(|(n, _)| n.starts_with("up-") || n.starts_with("start-")) {
        let items = value["items"].as_array().unwrap_or_else(|| panic!("{name} is a List"));
        shapes_of(items, Some("Pod"), &mut real_pods);
        shapes_of(items, Some("Job"), &mut real_jobs);
    }
    assert!(!real_pods.is_empty() && !real_jobs.is_empty(), "recorded pods and jobs are there");

    // The same states as the recording: a migration longer than the init containers' wait, the
    // create-user job retrying. The fake's pods and jobs are sampled while `up` waits.
    lab.world.scenario(json!({"migration_s": 2.5, "migration_wait_timeout_s": 0.6, "crash_backoff_s": 0.2,
        "create_user_fails": 2, "job_finish_s": 0.6}));
    let (mut fake_pods, mut fake_jobs) = (BTreeSet::new(), BTreeSet::new());
    std::thread::scope(|scope| {
        let up = scope.spawn(|| lab.devflow(&["up", "--no-watch"]).status(0).run());
        let started = Instant::now();
        while !up.is_finished() && started.elapsed() < Duration::from_secs(120) {
            shapes_of(&items(&lab, "/api/v1/pods?labelSelector=release%3Dairflow"), None, &mut fake_pods);
            shapes_of(&items(&lab, "/apis/batch/v1/jobs"), None, &mut fake_jobs);
            std::thread::sleep(Duration::from_millis(150));
        }
        up.join().unwrap();
    });
    let missing_pods: Vec<&String> = real_pods.difference(&fake_pods).collect();
    let missing_jobs: Vec<&String> = real_jobs.difference(&fake_jobs).collect();
    assert!(missing_pods.is_empty(), "pod fields the real cluster has and the fake does not: {missing_pods:#?}");
    assert!(missing_jobs.is_empty(), "job fields the real cluster has and the fake does not: {missing_jobs:#?}");

    // Helm's JSON: every key the real `helm status`/`helm list -o json` printed.
    for (name, args) in [("helm-status", vec!["status", "airflow"]), ("helm-list", vec!["list"])] {
        let Some((_, real)) = files.iter().find(|(n, _)| n == name) else { continue };
        let context = format!("kind-{}", lab.name);
        let mut argv: Vec<&str> = args.clone();
        argv.extend(["-n", "airflow", "--kube-context", context.as_str(), "-o", "json"]);
        let out = lab.world.run("helm", &argv, None);
        assert!(out.status.success(), "fake helm {argv:?}: {}", String::from_utf8_lossy(&out.stderr));
        let fake: Value = serde_json::from_slice(&out.stdout).unwrap();
        let (mut want, mut have) = (BTreeSet::new(), BTreeSet::new());
        paths(real, "", &mut want);
        paths(&fake, "", &mut have);
        let missing: Vec<&String> = want.difference(&have).collect();
        assert!(missing.is_empty(), "{name}: keys the real Helm printed and the fake does not: {missing:#?}");
    }
}
