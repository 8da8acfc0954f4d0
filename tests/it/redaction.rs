//! No secret value from the user's production values reaches any output of devflow: every mode of
//! `render`, `--json`, `--explain`, `up --dry-run`, `init`, `status` and the error messages are
//! searched for each secret each fixture holds, and the values file Helm reads stays 0600.

use crate::support::{Expect, Output, Test};

/// Each fixture, the profile it is rendered with, and the secret values written in it.
pub(crate) const FIXTURES: &[(&str, &str, &[&str])] = &[
    (
        "eks-celery.yaml",
        "celery",
        &[
            "Wh9dK2pxQ7vLm3",
            "T024BE7LD/B08ALERTS1/Xk3vQ9mZr2LwP8sT4yNa6bHc",
            "Xk3vQ9mZr2LwP8sT4yNa6bHc",
            "BKx8vQ2mZr4LwP9sT3yNa6bHcJ1dFgE0uIoPlKjHgF5",
        ],
    ),
    (
        "gke-kubernetes.yaml",
        "kubernetes",
        &["dbtu_Q3vZr8LmP2sT9xNa4bHc7JdK1fGe", "gke-Smtp-7rT2vQ9xLm4P", "ol_live_5hJ8kL2mN9pQ4rS7"],
    ),
    (
        "aks-local.yaml",
        "local",
        &[
            "q8Vn3xZ2LmP7sT4yNa6bHcJ1dFgE0uIoPlKjHgF5wRs=",
            "aks-api-secret-9f3b7c1e5d2a8f6b",
            "aks-jwt-4e8a1c9f7b3d5e2a6c0f",
            "Az-Pg-7vN2qRt5Lx",
            "c2VjcmV0LXN0b3JhZ2Uta2V5LWZvci1hY21lLWFpcmZsb3c=",
            "xoxb-2718281828-3141592653-Zr8LmP2sT9xNa4bHc7Jd",
        ],
    ),
    ("airflow2-webserver.yaml", "airflow2", &["from-vault", "Pr7n-Upl0ad-Xz4q", "af2-Smtp-Q7xL9mWv"]),
];

/// Every way devflow shows a plan made from production values.
const COMMANDS: &[&[&str]] = &[
    &["render"],
    &["render", "--json"],
    &["render", "--explain"],
    &["render", "--explain", "--json"],
    &["render", "--only", "values"],
    &["render", "--only", "values", "--json"],
    &["render", "--only", "manifests"],
    &["render", "--only", "cluster"],
    &["render", "--only", "plan", "--json"],
    &["up", "--dry-run"],
    &["status"],
    &["status", "--json"],
];

#[track_caller]
pub(crate) fn assert_hidden(output: &Output, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(!output.stdout.contains(secret), "`{what}` shows {secret:?} on stdout:\n{}", output.stdout);
        assert!(!output.stderr.contains(secret), "`{what}` shows {secret:?} on stderr:\n{}", output.stderr);
    }
}

#[test]
fn no_output_of_devflow_shows_a_secret_of_any_fixture() {
    for (fixture, profile, secrets) in FIXTURES {
        let toml = format!("name = \"acme\"\n\n[airflow]\nprofile = \"{profile}\"\nvalues = [\"deploy/{fixture}\"]\n");
        let test = Test::new().production(fixture).file("devflow.toml", &toml);
        for command in COMMANDS {
            let output = test.devflow(command).status(0).run();
            assert_hidden(&output, secrets, &format!("{} ({fixture})", command.join(" ")));
        }
    }
}

#[test]
fn init_with_production_values_shows_no_secret() {
    for (fixture, profile, secrets) in FIXTURES {
        let test = Test::empty().production(fixture);
        let values = format!("deploy/{fixture}");
        let output = test.devflow(&["init", "--profile", profile, "--values", &values]).status(0).run();
        assert_hidden(&output, secrets, &format!("init ({fixture})"));
    }
}

/// A schema error quotes the value it refuses: a secret there is hidden too.
#[test]
fn an_error_about_a_secret_value_does_not_quote_it() {
    for (fixture, profile, secrets) in FIXTURES {
        let text = std::fs::read_to_string(crate::support::fixtures().join("production").join(fixture)).unwrap();
        let broken = format!("{text}\nwebserverSecretKey: [\"{}\"]\n", secrets[0]);
        let test = Test::new().file("deploy/broken.yaml", &broken);
        for command in [&["render"][..], &["render", "--explain", "--json"], &["up", "--dry-run"]] {
            let args = [command, &["--profile", profile, "--values", "deploy/broken.yaml"]].concat();
            let output = test.devflow(&args).status(2).stderr_contains("webserverSecretKey").run();
            assert_hidden(&output, secrets, &format!("{} with a broken {fixture}", command.join(" ")));
        }
    }
}

/// `.env` and `[airflow.env]` reach every Airflow pod through the chart's `env` and `secret`: a
/// plain value as itself, a secret through devflow's Secret, never in any output.
#[test]
fn project_env_reaches_the_pods_and_its_secrets_go_through_a_secret() {
    let token = "dbtu_env-Secret-9f8e7d6c5b";
    let toml =
        "[airflow]\n[airflow.env]\nAIRFLOW_VAR_TEAM = \"data\"\nDBT_API_TOKEN = \"dbtu_env-Secret-9f8e7d6c5b\"\n";
    let test = Test::new()
        .file("devflow.toml", toml)
        .file(".env", "export AIRFLOW_VAR_TEAM=overridden-by-devflow-toml\nAIRFLOW_VAR_REGION=eu-west-1\n");
    let plan = test.devflow(&["render", "--json"]).status(0).run();
    assert!(!plan.stdout.contains(token), "{}", plan.stdout);
    let plan = plan.json();
    let env = plan["values"]["env"].as_array().unwrap();
    let value = |name: &str| env.iter().find(|e| e["name"] == name).map(|e| e["value"].clone());
    assert_eq!(value("AIRFLOW_VAR_TEAM"), Some("data".into()), "devflow.toml wins over .env");
    assert_eq!(value("AIRFLOW_VAR_REGION"), Some("eu-west-1".into()));
    assert_eq!(value("DBT_API_TOKEN"), None, "a secret is not a plain value");
    assert_eq!(
        plan["values"]["secret"],
        serde_json::json!([{"envName": "DBT_API_TOKEN", "secretName": "devflow-env", "secretKey": "DBT_API_TOKEN"}])
    );
    let manifest =
        plan["manifests"].as_array().unwrap().iter().find(|m| m["metadata"]["name"] == "devflow-env").cloned();
    assert_eq!(manifest.unwrap()["stringData"]["DBT_API_TOKEN"], "<generated>");
    for command in COMMANDS.iter().filter(|c| c[0] != "status") {
        let output = test.devflow(command).status(0).run();
        assert_hidden(&output, &[token], &command.join(" "));
    }
}
