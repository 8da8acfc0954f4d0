//! What `devflow render` prints for every built-in profile on every provider, with and without a
//! team's production values: snapshots, reviewed once and then held still.

use crate::support::{Expect, Test};
use serde_json::json;

pub const PROFILES: [&str; 4] = ["local", "celery", "kubernetes", "airflow2"];
pub const PROVIDERS: [&str; 2] = ["kind", "k3d"];

/// The production values fixture each profile is paired with (same Airflow major version).
pub fn production_for(profile: &str) -> &'static str {
    match profile {
        "airflow2" => "airflow2-webserver.yaml",
        "kubernetes" => "gke-kubernetes.yaml",
        _ => "eks-celery.yaml",
    }
}

#[test]
fn every_profile_on_every_provider() {
    for profile in PROFILES {
        for provider in PROVIDERS {
            let out = Test::new().args(["render", "--profile", profile, "--provider", provider]).status(0).run();
            insta::assert_snapshot!(format!("{profile}-{provider}"), out.stdout);
        }
    }
}

/// A shared cluster: a namespace of the user's, the folders pushed, no cluster config, no NodePort.
#[test]
fn an_existing_cluster_with_a_teams_production_values() {
    let out = Test::new()
        .production("eks-celery.yaml")
        .file("devflow.toml", "[cluster]\nprovider = \"existing\"\ncontext = \"arn:aws:eks:eu-west-1:123456789012:cluster/dev\"\nnamespace = \"team-data-alice\"\nstorage_class = \"efs-sc\"\n")
        .args(["render", "--profile", "celery", "--values", "deploy/eks-celery.yaml"])
        .status(0)
        .run();
    insta::assert_snapshot!("celery-existing-production", out.stdout);
}

#[test]
fn every_profile_on_every_provider_with_production_values() {
    for profile in PROFILES {
        let production = production_for(profile);
        for provider in PROVIDERS {
            let values = format!("deploy/{production}");
            let out = Test::new()
                .production(production)
                .args(["render", "--profile", profile, "--provider", provider, "--values", &values])
                .status(0)
                .run();
            insta::assert_snapshot!(format!("{profile}-{provider}-production"), out.stdout);
        }
    }
}

#[test]
fn the_parity_report_of_each_production_fixture() {
    for profile in ["celery", "kubernetes", "airflow2"] {
        let production = production_for(profile);
        let values = format!("deploy/{production}");
        let out = Test::new()
            .production(production)
            .args(["render", "--profile", profile, "--values", &values, "--explain"])
            .status(0)
            .run();
        insta::assert_snapshot!(format!("explain-{production}"), out.stdout);
    }
}

#[test]
fn each_part_alone_is_exactly_that_part_of_the_whole() {
    let test = Test::new().production("eks-celery.yaml").file("plugins/acme.py", "");
    let render = ["render", "--json", "--values", "deploy/eks-celery.yaml"];
    let whole = test.devflow(&render).status(0).run().json();
    for (part, key) in
        [("cluster", "cluster_config"), ("values", "values"), ("manifests", "manifests"), ("plan", "steps")]
    {
        let only = [&render[..], &["--only", part]].concat();
        assert_eq!(test.devflow(&only).status(0).run().json(), whole[key], "--only {part}");
    }
}

#[test]
fn plan_lists_the_commands_up_will_run() {
    Test::new()
        .args(["render", "--only", "plan"])
        .status(0)
        .stdout_contains(" 2. create cluster    $ kind create cluster --name acme-pipelines --config - < the cluster config")
        .stdout_contains(
            "$ helm upgrade --install airflow airflow --repo https://airflow.apache.org --version 1.22.0 --namespace airflow --kube-context kind-acme-pipelines --values [TMP]/state/devflow/acme-pipelines-[HASH]/values.yaml",
        )
        .run();
    Test::new()
        .args(["render", "--only", "plan", "--provider", "k3d"])
        .status(0)
        .stdout_contains("$ k3d cluster create --config [TMP]/state/devflow/acme-pipelines-[HASH]/k3d.yaml")
        .run();
}

#[test]
fn project_settings_and_overrides_reach_the_values_last() {
    let out = Test::new()
        .file(
            "devflow.toml",
            r#"
[cluster]
workers = 2
ui_port = 9090

[airflow]
profile = "celery"
executor = "CeleryExecutor,KubernetesExecutor"
image = "registry.acme.io/data/airflow:2025.11.1"

[airflow.set]
"workers.replicas" = 3

[airflow.config.core]
parallelism = 8
"#,
        )
        .args([
            "render",
            "--json",
            "--set",
            "workers.replicas=2",
            "--set",
            r"workers.serviceAccount.annotations.acme\.io/team=data",
        ])
        .status(0)
        .run()
        .json();
    let values = &out["values"];
    assert_eq!(values["executor"], "CeleryExecutor,KubernetesExecutor");
    assert_eq!(values["images"]["airflow"]["repository"], "registry.acme.io/data/airflow");
    assert_eq!(values["images"]["airflow"]["tag"], "2025.11.1");
    assert_eq!(values["workers"]["replicas"], 2, "--set comes after [airflow.set]");
    assert_eq!(values["workers"]["serviceAccount"]["annotations"]["acme.io/team"], "data");
    assert_eq!(values["config"]["core"]["parallelism"], 8);
    let nodes = out["cluster_config"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0]["extraPortMappings"][0]["hostPort"], 9090);
    assert_eq!(out["url"], "http://127.0.0.1:9090");
}

/// Issue 12, item 4: the dag-processor parses as many files at once as the profile has CPUs
/// (Airflow 3's `[dag_processor] parsing_processes`, Airflow 2's `[scheduler]` one; Airflow's own
/// default is 2 whatever the machine).
#[test]
fn the_dag_processor_parses_with_one_process_per_profile_cpu() {
    let four = "extends: local\nneeds: {memory_gib: 6, cpus: 4}\n";
    let values =
        Test::new().file("profiles/big.yaml", four).args(["render", "--json", "--profile", "profiles/big.yaml"]);
    let values = values.status(0).run().json()["values"].clone();
    assert_eq!(values["config"]["dag_processor"]["parsing_processes"], 4, "{}", values["config"]);
    let airflow2 =
        Test::new().args(["render", "--json", "--profile", "airflow2"]).status(0).run().json()["values"].clone();
    assert_eq!(airflow2["config"]["scheduler"]["parsing_processes"], 2, "{}", airflow2["config"]);
    assert!(airflow2["config"].get("dag_processor").is_none_or(|s| s.get("parsing_processes").is_none()));
    let explain = Test::new().args(["render", "--explain"]).status(0).run().stdout;
    assert!(
        explain
            .lines()
            .any(|l| l.starts_with("config.dag_processor.parsing_processes")
                && l.contains("each of the profile's 2 CPUs")),
        "{explain}"
    );
}

/// Issue 12, item 2: the watch's slow-parse threshold is the profile's, and the hard limit it
/// names is Airflow's `[core] dagbag_import_timeout` as the values set it.
#[test]
fn the_slow_parse_threshold_is_the_profiles_and_the_limit_airflows() {
    let built_in = Test::new().args(["render", "--json"]).status(0).run().json();
    assert_eq!(built_in["slow_parse"], serde_json::json!({"seconds": 2.0, "import_timeout": 30.0}));
    let out = Test::new()
        .file("profiles/patient.yaml", "extends: local\nwatch: {slow_parse_seconds: 5}\n")
        .file(
            "devflow.toml",
            "[airflow]\nprofile = \"profiles/patient.yaml\"\n\n[airflow.config.core]\ndagbag_import_timeout = 45\n",
        )
        .args(["render", "--json"])
        .status(0)
        .run()
        .json();
    assert_eq!(out["slow_parse"], serde_json::json!({"seconds": 5.0, "import_timeout": 45.0}));
}

/// Issue 12, item 5: task logs outlive a KubernetesExecutor task pod. Every profile on every
/// provider keeps them on devflow's claim: with `logs.persistence.enabled` and an `existingClaim`,
/// the chart 1.22.0 mounts that claim as `logs` in every Airflow pod (`templates/*/*-deployment.yaml`,
/// `airflow_logs_volume_claim` in `_helpers.yaml`) and in the KubernetesExecutor's pod template
/// (`files/pod-template-file.kubernetes-helm-yaml`), and makes no claim of its own
/// (`templates/logs-persistent-volume-claim.yaml`), so the values and the claim devflow applies
/// are the whole of it. A production value that names another claim does not win.
#[test]
fn every_airflow_pod_and_the_task_pods_keep_their_logs_on_one_claim() {
    let claims_of = |plan: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
        let manifests = plan["manifests"].as_array().unwrap();
        let claims = manifests.iter().filter(|m| m["kind"] == "PersistentVolumeClaim");
        claims.map(|c| (c["metadata"]["name"].as_str().unwrap().to_string(), c["spec"].clone())).collect()
    };
    for profile in PROFILES {
        for provider in PROVIDERS {
            let production = format!("deploy/{}", production_for(profile));
            let test = Test::new().production(production_for(profile));
            for values in [None, Some(production.as_str())] {
                let mut args = vec!["render", "--json", "--profile", profile, "--provider", provider];
                args.extend(values.map(|v| ["--values", v]).into_iter().flatten());
                let plan = test.devflow(&args).status(0).run().json();
                let logs = &plan["values"]["logs"]["persistence"];
                assert_eq!(
                    (&logs["enabled"], &logs["existingClaim"]),
                    (&json!(true), &json!("devflow-logs")),
                    "{profile} {provider} {values:?}"
                );
                for (key, component) in plan["values"].as_object().unwrap() {
                    let extra = component["extraVolumes"].as_array().into_iter().flatten();
                    assert!(extra.clone().all(|v| v["name"] != "logs"), "{key} mounts another `logs` volume");
                }
                let claims = claims_of(&plan);
                let (_, spec) =
                    claims.iter().find(|(name, _)| name == "devflow-logs").expect("devflow applies the logs claim");
                // kind's `standard` and k3d's `local-path` (rancher/local-path-provisioner) take
                // ReadWriteOnce only; the cluster's default class, so no storageClassName.
                assert_eq!((&spec["accessModes"], spec.get("storageClassName")), (&json!(["ReadWriteOnce"]), None));
            }
        }
    }
    // An existing cluster: the logs claim on the storage the project names, like its folders'.
    let toml =
        "[cluster]\nprovider = \"existing\"\ncontext = \"dev\"\nnamespace = \"team-a\"\nstorage_class = \"efs-sc\"\n";
    let plan = Test::new().file("devflow.toml", toml).args(["render", "--json"]).status(0).run().json();
    let claims = claims_of(&plan);
    let (_, logs) = claims.iter().find(|(name, _)| name == "devflow-logs").expect("the logs claim");
    let (_, dags) = claims.iter().find(|(name, _)| name == "devflow-dags").expect("the DAG claim");
    assert_eq!((&logs["storageClassName"], &logs["accessModes"]), (&json!("efs-sc"), &dags["accessModes"]));
}
