//! The parity report for each realistic production values file, asserted key by key: what a laptop
//! cannot have is changed or removed, with a reason; what defines behaviour is kept as it is.

use serde_json::{Value, json};

use crate::support::{Expect, Test};

/// `render --explain --json` and `render --json` for a fixture and a profile.
fn report(fixture: &str, profile: &str) -> (Vec<Value>, Value) {
    let (changes, values, _) = report_and_fence(fixture, profile);
    (changes, values)
}

/// The report's lines, the laptop values, and what the fence took off, by name.
fn report_and_fence(fixture: &str, profile: &str) -> (Vec<Value>, Value, Vec<String>) {
    let values = format!("deploy/{fixture}");
    let test = Test::new().production(fixture);
    let render = ["render", "--json", "--profile", profile, "--values", &values];
    let explain = test.devflow(&[&render[..], &["--explain"]].concat()).status(0).run().json();
    assert_eq!(explain["production_files"].as_array().unwrap().len(), 1);
    let plan = test.devflow(&render).status(0).run().json();
    let fenced = explain["fenced"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    (explain["parity"].as_array().unwrap().clone(), plan["values"].clone(), fenced)
}

/// Each `(key, production, laptop)` is a line of the report, with a reason; `None` for a laptop
/// value means the key is removed, for a production value that production does not set it.
#[track_caller]
fn assert_changed(changes: &[Value], expected: &[(&str, Option<Value>, Option<Value>)]) {
    for (key, production, laptop) in expected {
        let line = changes.iter().find(|c| c["key"] == *key).unwrap_or_else(|| panic!("`{key}` is not in the report"));
        assert_eq!(line["production"], production.clone().unwrap_or(Value::Null), "production value of `{key}`");
        assert_eq!(line["laptop"], laptop.clone().unwrap_or(Value::Null), "laptop value of `{key}`");
        assert!(!line["reason"].as_str().unwrap().is_empty(), "`{key}` has no reason");
    }
}

/// Each key is absent from the report and has its production value in the laptop's values.
#[track_caller]
fn assert_kept(changes: &[Value], values: &Value, kept: &[(&str, Value)]) {
    for (key, production) in kept {
        assert!(
            changes.iter().all(|c| c["key"] != *key && !c["key"].as_str().unwrap().starts_with(&format!("{key}."))),
            "`{key}` must be kept"
        );
        let pointer = format!("/{}", key.replace('.', "/"));
        assert_eq!(values.pointer(&pointer), Some(production), "`{key}` in the laptop values");
    }
}

fn removed(production: Value) -> (Option<Value>, Option<Value>) {
    (Some(production), None)
}

#[test]
fn eks_with_irsa_rds_celery_keda_and_ingress() {
    let (changes, values) = report("eks-celery.yaml", "celery");
    let row = |key, (p, l): (Option<Value>, Option<Value>)| (key, p, l);
    assert_changed(
        &changes,
        &[
            row("ingress.apiServer.enabled", removed(json!(true))),
            row("ingress.apiServer.ingressClassName", removed(json!("alb"))),
            ("workers.keda.enabled", Some(json!(true)), Some(json!(false))),
            ("workers.replicas", Some(json!(4)), Some(json!(1))),
            ("scheduler.replicas", Some(json!(2)), Some(json!(1))),
            ("apiServer.replicas", Some(json!(2)), Some(json!(1))),
            row(
                r"workers.serviceAccount.annotations.eks\.amazonaws\.com/role-arn",
                removed(json!("arn:aws:iam::123456789012:role/acme-airflow-prod-worker")),
            ),
            row(
                r"scheduler.serviceAccount.annotations.eks\.amazonaws\.com/role-arn",
                removed(json!("arn:aws:iam::123456789012:role/acme-airflow-prod-scheduler")),
            ),
            row("data.metadataSecretName", removed(json!("acme-airflow-metadata-db"))),
            row("data.brokerUrlSecretName", removed(json!("acme-airflow-broker-url"))),
            ("data.metadataConnection.host", None, Some(json!("devflow-postgres.airflow"))),
            ("redis.enabled", Some(json!(false)), Some(json!(true))),
            ("pgbouncer.enabled", Some(json!(true)), Some(json!(false))),
            ("statsd.enabled", Some(json!(true)), Some(json!(false))),
            ("workers.persistence.enabled", Some(json!(true)), Some(json!(false))),
            ("triggerer.persistence.enabled", Some(json!(true)), Some(json!(false))),
            ("workers.podDisruptionBudget.enabled", Some(json!(true)), Some(json!(false))),
            row("workers.nodeSelector.karpenter\\.sh/nodepool", removed(json!("airflow-workers"))),
            row("workers.resources.limits.cpu", removed(json!("4"))),
            ("workers.resources.requests.memory", Some(json!("6Gi")), Some(json!("1Gi"))),
            row(
                "config.secrets.backend",
                removed(json!("airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend")),
            ),
            ("config.logging.remote_logging", Some(json!("True")), Some(json!("False"))),
            row("fernetKeySecretName", removed(json!("acme-airflow-fernet-key"))),
            ("fernetKey", None, Some(json!("<generated>"))),
            ("jwtSecret", None, Some(json!("<generated>"))),
            ("config.dag_processor.refresh_interval", None, Some(json!(1))),
            ("apiServer.service.type", None, Some(json!("NodePort"))),
            // Fleet-sized settings brought to the profile's 2 CPUs.
            ("config.core.parallelism", Some(json!(256)), Some(json!(16))),
            ("config.celery.worker_concurrency", Some(json!(16)), Some(json!(8))),
            // Secrets only production has: stood in for, their values from .devflow/secrets.env.
            (
                "secret[0]",
                Some(json!("Secret acme-airflow-slack-conn")),
                Some(json!("stand-in Secret acme-airflow-slack-conn")),
            ),
            (
                "extraEnvFrom",
                Some(json!("Secret acme-airflow-extra-env")),
                Some(json!("stand-in Secret acme-airflow-extra-env")),
            ),
        ],
    );
    assert_kept(
        &changes,
        &values,
        &[
            ("executor", json!("CeleryExecutor")),
            ("airflowVersion", json!("3.2.2")),
            ("images.airflow.repository", json!("123456789012.dkr.ecr.us-east-1.amazonaws.com/data-platform/airflow")),
            ("images.airflow.tag", json!("3.2.2-acme.7")),
            ("config.logging.remote_base_log_folder", json!("s3://acme-data-platform-airflow-logs/prod")),
            ("postgresql.enabled", json!(false)),
        ],
    );
    // Connections without an endpoint of their own (the AWS SDK's) are kept; those with a host or
    // credentials, and the Slack webhook, are fenced off.
    let env: Vec<&str> = values["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(env, ["AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_DATA_LAKE"]);
    let env_line = changes.iter().find(|c| c["key"] == "env").expect("the env list changed");
    assert!(
        env_line["reason"].as_str().unwrap().contains("AIRFLOW_CONN_WAREHOUSE, ALERTS_SLACK_WEBHOOK"),
        "{env_line}"
    );
}

/// AKS: the Key Vault CSI volume and its mount are dropped (no CSI driver on a laptop), the ACR
/// pull secret removed, the Key Vault backend and Blob logging fenced off; a sidecar kept by name stays.
#[test]
fn aks_with_key_vault_csi_azure_files_and_an_acr_pull_secret() {
    let (changes, values) = report("aks-local.yaml", "local");
    assert_changed(
        &changes,
        &[
            ("registry.secretName", Some(json!("acr-pull")), None),
            ("logs.persistence.existingClaim", None, Some(json!("devflow-logs"))),
            ("fernetKey", Some(json!("<redacted>")), Some(json!("<generated>"))),
            ("data.metadataConnection.pass", Some(json!("<redacted>")), Some(json!("<generated>"))),
            ("apiServer.service.type", Some(json!("LoadBalancer")), Some(json!("NodePort"))),
        ],
    );
    let names = |key: &str| -> Vec<String> {
        values[key].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names("volumes"), ["devflow-dags"]);
    assert_eq!(names("volumeMounts"), ["devflow-dags"]);
    let volumes = changes.iter().find(|c| c["key"] == "volumes").unwrap();
    assert!(volumes["reason"].as_str().unwrap().contains("`kv-secrets` is a CSI volume"), "{volumes}");

    let toml = "[airflow]\nprofile = \"local\"\nvalues = [\"deploy/aks-local.yaml\"]\nkeep = [\"kv-secrets\"]\n";
    let test = Test::new().production("aks-local.yaml").file("devflow.toml", toml);
    let plan = test.devflow(&["render", "--json"]).status(0).run().json();
    assert_eq!(plan["values"]["volumes"][0]["name"], "kv-secrets", "kept by name");
}

/// Each fixture's production endpoints, fenced off by default; one kept by name stays.
#[test]
fn the_fence_takes_every_production_endpoint_off_the_laptop() {
    let expected: [(&str, &str, &[&str]); 4] = [
        (
            "eks-celery.yaml",
            "celery",
            &[
                "config.secrets.backend",
                "config.logging.remote_logging",
                "config.smtp",
                "config.email.email_backend",
                "config.email.email_conn_id",
                "AIRFLOW_CONN_WAREHOUSE",
                "ALERTS_SLACK_WEBHOOK",
            ],
        ),
        (
            "gke-kubernetes.yaml",
            "kubernetes",
            &[
                "config.secrets.backend",
                "config.logging.remote_logging",
                "config.smtp",
                "AIRFLOW_CONN_DBT_CLOUD_DEFAULT",
                // In the templated `extraEnv` string.
                "AIRFLOW__SMTP__SMTP_PASSWORD",
                "AIRFLOW__SMTP__SMTP_HOST",
            ],
        ),
        (
            "aks-local.yaml",
            "local",
            &[
                "config.secrets.backend",
                "config.logging.remote_logging",
                "AIRFLOW_CONN_WASB_DEFAULT",
                "AIRFLOW_CONN_SLACK_API_DEFAULT",
            ],
        ),
        (
            "airflow2-webserver.yaml",
            "airflow2",
            &["config.smtp", "AIRFLOW_CONN_DATA_WAREHOUSE", "AIRFLOW_CONN_SFTP_PARTNER"],
        ),
    ];
    for (fixture, profile, fenced) in expected {
        let (changes, values, got) = report_and_fence(fixture, profile);
        assert_eq!(got, fenced, "{fixture}");
        assert!(values["config"].get("smtp").is_none(), "{fixture}: the mail relay is fenced off");
        assert!(changes.iter().any(|c| c["reason"].as_str().unwrap().starts_with("fenced off: ")), "{fixture}");
        let test = Test::new().production(fixture);
        let values_file = format!("deploy/{fixture}");
        test.devflow(&["render", "--explain", "--profile", profile, "--values", &values_file])
            .status(0)
            .stdout_contains(format!("\n{} production endpoints fenced off: {}\n", fenced.len(), fenced.join(", ")))
            .stdout_contains("Note: the chart's create-user job carries the admin password as a literal `-p` argument")
            .run();
    }
    // Kept by name: the warehouse connection stays as production has it.
    let toml = "[airflow]\nprofile = \"celery\"\nvalues = [\"deploy/eks-celery.yaml\"]\nkeep = [\"AIRFLOW_CONN_WAREHOUSE\", \"config.smtp\"]\n";
    let test = Test::new().production("eks-celery.yaml").file("devflow.toml", toml);
    let plan = test.devflow(&["render", "--json"]).status(0).run().json();
    let env: Vec<&str> =
        plan["values"]["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(env.contains(&"AIRFLOW_CONN_WAREHOUSE"), "{env:?}");
    assert_eq!(plan["values"]["config"]["smtp"]["smtp_host"], "email-smtp.us-east-1.amazonaws.com");
    assert_eq!(plan["fenced"].as_array().unwrap().len(), 5);
}

#[test]
fn gke_with_kubernetes_executor_workload_identity_and_git_sync() {
    let (changes, values) = report("gke-kubernetes.yaml", "kubernetes");
    assert_changed(
        &changes,
        &[
            ("dags.gitSync.enabled", Some(json!(true)), Some(json!(false))),
            ("logs.persistence.existingClaim", None, Some(json!("devflow-logs"))),
            ("apiServer.hpa.enabled", Some(json!(true)), Some(json!(false))),
            ("scheduler.priorityClassName", Some(json!("data-platform-critical")), None),
            (
                r"workers.serviceAccount.annotations.iam\.gke\.io/gcp-service-account",
                Some(json!("airflow-worker@acme-data-platform.iam.gserviceaccount.com")),
                None,
            ),
            (r"workers.nodeSelector.cloud\.google\.com/gke-nodepool", Some(json!("airflow-tasks")), None),
            (r"scheduler.nodeSelector.cloud\.google\.com/gke-nodepool", Some(json!("airflow-core")), None),
            ("createUserJob.enabled", Some(json!(false)), Some(json!(true))),
            ("cleanup.enabled", None, Some(json!(true))),
            ("data.metadataSecretName", Some(json!("acme-airflow-cloudsql-metadata")), None),
            ("config.core.parallelism", Some(json!(128)), Some(json!(16))),
            ("config.kubernetes_executor.worker_pods_creation_batch_size", Some(json!(16)), Some(json!(2))),
        ],
    );
    assert_kept(
        &changes,
        &values,
        &[
            ("executor", json!("KubernetesExecutor")),
            ("images.airflow.repository", json!("us-central1-docker.pkg.dev/acme-data-platform/airflow/airflow")),
            ("images.airflow.tag", json!("3.2.2-acme.12")),
            ("config.kubernetes_executor.delete_worker_pods", json!("True")),
        ],
    );
    // The Cloud SQL proxy sidecar is dropped, with its reason.
    let sidecar =
        changes.iter().find(|c| c["key"] == "scheduler.extraContainers").expect("the sidecar is in the report");
    assert!(sidecar["laptop"].is_null(), "{sidecar}");
    assert!(sidecar["reason"].as_str().unwrap().starts_with("dropped: `cloud-sql-proxy` is a production-only sidecar"));
    // The executor's pod template reads the chart's top-level volumes: the task pods get the DAGs.
    assert_eq!(
        values["volumeMounts"][0],
        json!({"name": "devflow-dags", "mountPath": "/opt/airflow/dags", "readOnly": true})
    );
}

#[test]
fn airflow2_with_the_webserver() {
    let (changes, values) = report("airflow2-webserver.yaml", "airflow2");
    assert_changed(
        &changes,
        &[
            ("config.scheduler.dag_dir_list_interval", Some(json!(300)), Some(json!(1))),
            // The chart 1.22.0 sets no `[api] auth_backends`: Airflow 2.11's default (session only)
            // refuses the watch's basic auth on /api/v1.
            (
                "config.api.auth_backends",
                None,
                Some(json!(
                    "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,airflow.api.auth.backend.session"
                )),
            ),
            ("webserver.service.type", Some(json!("LoadBalancer")), Some(json!("NodePort"))),
            ("webserver.replicas", Some(json!(3)), Some(json!(1))),
            ("dags.persistence.enabled", Some(json!(true)), Some(json!(false))),
            ("ingress.web.enabled", Some(json!(true)), None),
            (
                "data.metadataConnection.host",
                Some(json!("pg-airflow.db.acme.internal")),
                Some(json!("devflow-postgres.airflow")),
            ),
            // A secret shows only that it differs.
            ("data.metadataConnection.pass", Some(json!("<redacted>")), Some(json!("<generated>"))),
            ("webserverSecretKey", None, Some(json!("<generated>"))),
            ("createUserJob.enabled", Some(json!(false)), Some(json!(true))),
            ("config.scheduler.parsing_processes", Some(json!(4)), Some(json!(2))),
        ],
    );
    assert_kept(
        &changes,
        &values,
        &[
            ("executor", json!("CeleryExecutor")),
            ("airflowVersion", json!("2.11.2")),
            ("images.airflow.tag", json!("2.11.2-acme.21")),
            ("config.scheduler.min_file_process_interval", json!(60)),
            ("config.webserver.base_url", json!("https://airflow2.data-platform.acme.io")),
        ],
    );
    // Airflow 2 has no api-server, so none of its Airflow 3 settings appear.
    for key in ["apiSecretKey", "jwtSecret", "apiServer"] {
        assert!(values.get(key).is_none(), "{key} must not be set for Airflow 2");
    }
    assert!(values["config"].get("dag_processor").is_none());
}

/// The chart's default for a dotted key, read from the chart's values.schema.json as the test's own
/// reading (each property's `default`, `$ref`s followed, a map default read into).
fn chart_default(key: &str) -> Option<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/airflow-chart-1.22.0.values.schema.json"
    ));
    let schema: Value = serde_json::from_str(&text.unwrap()).unwrap();
    let resolve = |node: &Value| {
        let mut node = node.clone();
        while let Some(name) = node["$ref"].as_str().and_then(|r| r.strip_prefix("#/definitions/")) {
            node = schema["definitions"][name].clone();
        }
        node
    };
    let segments: Vec<&str> = key.split('.').collect();
    let mut node = resolve(&schema);
    for (i, segment) in segments.iter().enumerate() {
        match node["properties"].get(*segment) {
            Some(property) => node = resolve(property),
            None => return segments[i..].iter().try_fold(node.get("default")?.clone(), |d, k| d.get(*k).cloned()),
        }
    }
    node.get("default").cloned()
}

/// A key devflow sets to the chart's own default is not a difference (issue 10 item 5).
#[test]
fn the_report_lists_only_values_that_differ_from_the_charts_defaults() {
    let test = Test::new();
    let changes = test.devflow(&["render", "--explain", "--json"]).status(0).run().json()["parity"].clone();
    let changes = changes.as_array().unwrap();
    let keys: Vec<&str> = changes.iter().map(|c| c["key"].as_str().unwrap()).collect();
    for same in ["airflowVersion", "createUserJob.enabled", "createUserJob.defaultUser.username", "pgbouncer.enabled"] {
        assert!(!keys.contains(&same), "`{same}` is set to the chart's default, yet listed: {keys:?}");
    }
    for differs in ["executor", "statsd.enabled", "workers.persistence.enabled", "apiServer.service.type"] {
        assert!(keys.contains(&differs), "`{differs}` differs from the chart's default: {keys:?}");
    }
    for change in changes {
        let key = change["key"].as_str().unwrap();
        if change["production"].is_null() {
            assert_ne!(Some(change["laptop"].clone()), chart_default(key), "`{key}` equals the chart's default");
        }
    }
    assert!(keys.len() < 40, "{} keys differ: {keys:?}", keys.len());
}
