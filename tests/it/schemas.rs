//! Everything devflow generates validates against the real schemas: kind's and k3d's config
//! schemas and the Airflow chart 1.22.0's values schema, as copied into the repository's
//! `schemas/` (one test checks that copy against `../shared/schemas/`, where they are kept).

use std::path::PathBuf;

use serde_json::Value;

use crate::render::{PROFILES, PROVIDERS, production_for};
use crate::support::{Expect, Test};

const SCHEMAS: [&str; 3] =
    ["airflow-chart-1.22.0.values.schema.json", "kind-v1alpha4.schema.json", "k3d-v1alpha5.schema.json"];

fn vendored(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas").join(name)
}

fn validator(name: &str) -> (jsonschema::Validator, Value) {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(vendored(name)).unwrap()).unwrap();
    (jsonschema::draft7::new(&schema).unwrap(), schema)
}

#[track_caller]
fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not validate:\n{}", errors.join("\n"));
}

#[test]
fn the_vendored_schemas_are_the_shared_ones() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas");
    if !shared.is_dir() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{} is missing: CI keeps ../shared beside the repository",
            shared.display()
        );
        // Written to the process's stderr directly: the harness captures `eprintln!`, and a skip
        // must not be silent.
        use std::io::Write;
        let _ =
            writeln!(std::io::stderr(), "SKIPPED the_vendored_schemas_are_the_shared_ones: no {}", shared.display());
        return;
    }
    for name in SCHEMAS {
        assert!(
            std::fs::read(vendored(name)).unwrap() == std::fs::read(shared.join(name)).unwrap(),
            "schemas/{name} differs from ../shared/schemas/{name}: copy it again"
        );
    }
}

#[test]
fn every_profile_provider_and_production_values_validate() {
    let (kind, _) = validator("kind-v1alpha4.schema.json");
    let (k3d, _) = validator("k3d-v1alpha5.schema.json");
    let (chart, chart_schema) = validator("airflow-chart-1.22.0.values.schema.json");
    let known: Vec<&String> = chart_schema["properties"].as_object().unwrap().keys().collect();
    let mut checked = 0;
    for profile in PROFILES {
        for provider in PROVIDERS.into_iter().chain(["existing"]) {
            for production in [None, Some(production_for(profile))] {
                // Extra workers and a plugins folder exercise every part of the cluster config.
                let cluster = if provider == "existing" { "context = \"shared-dev\"" } else { "workers = 2" };
                let mut test = Test::new()
                    .file("plugins/acme_plugin.py", "")
                    .file("devflow.toml", &format!("[cluster]\n{cluster}\n"));
                let mut args = vec!["render", "--json", "--profile", profile, "--provider", provider];
                let values_flag;
                if let Some(file) = production {
                    test = test.production(file);
                    values_flag = format!("deploy/{file}");
                    args.extend(["--values", &values_flag]);
                }
                let plan = test.args(args).status(0).run().json();
                let what = format!("{profile} on {provider} with {production:?}");
                match provider {
                    "existing" => assert!(plan["cluster_config"].is_null(), "{what}: devflow makes no cluster"),
                    "kind" => assert_valid(&kind, &plan["cluster_config"], &format!("the cluster config of {what}")),
                    _ => assert_valid(&k3d, &plan["cluster_config"], &format!("the cluster config of {what}")),
                }
                assert_valid(&chart, &plan["values"], &format!("the values of {what}"));
                for key in plan["values"].as_object().unwrap().keys() {
                    assert!(known.contains(&key), "{what}: `{key}` is not a top-level value of the chart");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 24);
}

/// The promises of DESIGN.md's safety section, checked on what devflow generates.
#[test]
fn mounts_are_read_only_and_ports_listen_on_loopback() {
    for provider in PROVIDERS {
        let plan = Test::new()
            .file("plugins/p.py", "")
            .file("devflow.toml", "[cluster]\nworkers = 1\n")
            .args(["render", "--json", "--provider", provider])
            .status(0)
            .run()
            .json();
        let cluster = &plan["cluster_config"];
        if provider == "kind" {
            assert_eq!(cluster["networking"]["apiServerAddress"], "127.0.0.1");
            for node in cluster["nodes"].as_array().unwrap() {
                // The ownership marker, dags/ and plugins/.
                assert_eq!(node["extraMounts"].as_array().unwrap().len(), 3);
                assert_eq!(node["extraMounts"][0]["containerPath"], "/devflow/owner");
                for mount in node["extraMounts"].as_array().unwrap() {
                    assert_eq!(mount["readOnly"], true, "{mount}");
                    assert!(
                        mount["hostPath"].as_str().unwrap().starts_with('/'),
                        "kind needs absolute host paths: {mount}"
                    );
                }
                for port in node["extraPortMappings"].as_array().into_iter().flatten() {
                    assert_eq!(port["listenAddress"], "127.0.0.1", "{port}");
                }
            }
        } else {
            assert_eq!(cluster["kubeAPI"]["hostIP"], "127.0.0.1");
            assert!(cluster["volumes"][0]["volume"].as_str().unwrap().ends_with("/owner:/devflow/owner:ro"));
            for volume in cluster["volumes"].as_array().unwrap() {
                let spec = volume["volume"].as_str().unwrap();
                assert!(spec.starts_with('/') && spec.ends_with(":ro"), "{spec}");
            }
            for port in cluster["ports"].as_array().unwrap() {
                assert!(port["port"].as_str().unwrap().starts_with("127.0.0.1:"), "{port}");
            }
        }
        for mount in plan["values"]["volumeMounts"].as_array().unwrap() {
            assert_eq!(mount["readOnly"], true, "{mount}");
        }
    }
}
