//! Chart releases beyond the embedded 1.22.0 (issue 13, item 3): a project's values are checked
//! against the chart version's own values.schema.json, pulled once (`helm pull --untar`) and kept
//! in devflow's cache; Airflow 3.4 plans on the newest chart; an Airflow 2 profile says once that
//! Airflow 2 reached its end of life.

use crate::support::{Expect, Test};
use crate::test_name;
use crate::world::World;

/// A project of chart `version` in `world`, with production values setting `dags.gitSync.depth`.
fn project(world: &World, version: &str) -> Test {
    let mut test = Test::new()
        .file("devflow.toml", &format!("[airflow]\nchart_version = \"{version}\"\nvalues = [\"prod.yaml\"]\n"))
        .file("prod.yaml", "dags:\n  gitSync:\n    depth: 2\n");
    for (key, value) in world.env() {
        test = test.env(&key, value);
    }
    test
}

fn pulls(world: &World) -> Vec<Vec<String>> {
    world
        .log()
        .into_iter()
        .filter(|c| c.tool == "helm" && c.argv.first().is_some_and(|a| a == "pull"))
        .map(|c| c.argv)
        .collect()
}

#[test]
fn another_chart_version_is_checked_against_its_own_schema_pulled_once() {
    let world = World::named(test_name!());
    // Chart "1.20.0" of this test has no `dags.gitSync.depth`: the vendored 1.22.0 schema
    // without it, so only the pulled schema can refuse the production values.
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/airflow-chart-1.22.0.values.schema.json").unwrap())
            .unwrap();
    schema["properties"]["dags"]["properties"]["gitSync"]["properties"].as_object_mut().unwrap().remove("depth");
    let older = world.temp().join("schema-1.20.0.json");
    std::fs::write(&older, schema.to_string()).unwrap();
    world.scenario(serde_json::json!({"chart_schemas": {"1.20.0": older}}));

    let embedded = project(&world, "1.22.0");
    embedded.devflow(&["render", "--only", "values"]).status(0).run();
    assert!(pulls(&world).is_empty(), "1.22.0's schema is in the binary: {:?}", pulls(&world));

    let test = project(&world, "1.20.0");
    test.devflow(&["render", "--only", "values"])
        .status(2)
        .stderr_contains("pulling the Airflow chart 1.20.0 for its values schema")
        .stderr_contains("prod.yaml:3: `dags.gitSync.depth` is not a value the Airflow chart 1.20.0 knows")
        .run();
    let pulled = pulls(&world);
    assert_eq!(pulled.len(), 1, "{pulled:?}");
    assert_eq!(pulled[0][..6], ["pull", "airflow", "--repo", "https://airflow.apache.org", "--version", "1.20.0"]);
    assert!(pulled[0].contains(&"--untar".to_string()));
    let cached = test.temp().join("cache/devflow/charts/airflow-1.20.0.values.schema.json");
    assert!(cached.is_file(), "the schema is kept in the cache");

    // Cached: no second pull; without the key the chart lacks, the values plan for 1.20.0.
    let fine = test.file("prod.yaml", "dags:\n  gitSync:\n    enabled: false\n");
    let plan = fine.devflow(&["render", "--only", "plan"]).status(0).stderr_lacks("pulling").run();
    assert!(plan.stdout.contains("--version 1.20.0"), "{}", plan.stdout);
    assert_eq!(pulls(&world).len(), 1);
}

#[test]
fn chart_versions_outside_1_19_to_the_newest_are_refused() {
    let world = World::named(test_name!());
    project(&world, "1.18.0")
        .devflow(&["render"])
        .status(2)
        .stderr_contains("chart_version \"1.18.0\" is not supported")
        .stderr_contains("1.19.0 (the first for Airflow 3)")
        .run();
    // A release the repository does not have: helm's own words.
    project(&world, "1.99.0")
        .devflow(&["render"])
        .status(1)
        .stderr_contains("chart \"airflow\" version \"1.99.0\" not found in https://airflow.apache.org repository")
        .run();
}

/// Airflow 3.4.0 is not on PyPI from this machine: it is checked on the plan tier only.
#[test]
fn airflow_3_4_plans_on_the_newest_chart() {
    let out = Test::new()
        .file("devflow.toml", "[airflow]\nversion = \"3.4.0\"\n")
        .args(["render", "--json"])
        .status(0)
        .run()
        .json();
    assert_eq!(out["airflow_version"], "3.4.0");
    assert_eq!(out["chart_version"], "1.22.0");
    assert_eq!(out["values"]["defaultAirflowTag"], "3.4.0");
}

#[test]
fn an_airflow_2_profile_says_once_that_airflow_2_reached_its_end() {
    let out = Test::new().args(["render", "--profile", "airflow2"]).status(0).run();
    assert_eq!(out.stderr.matches("Airflow 2 reached end of life in April 2026").count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("devflow upgrade --airflow 3.x"), "{}", out.stderr);
    let three = Test::new().args(["render", "--profile", "local"]).status(0).run();
    assert!(!three.stderr.contains("end of life"), "{}", three.stderr);
}
