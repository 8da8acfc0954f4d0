//! The Airflow chart's workloads, made from the values Helm got (the chart 1.22.0's templates):
//! which components run and as what kind, their containers, pods and jobs.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::Value;

use super::State;
use super::controllers::{deployment_status, job_status, stateful_set_status, to_json};
use super::identity::{labels, meta, resource_version, suffix, uid};
use super::kubelet::{ConfigRef, Owner, PodPlan, config_error, pod_status};
use super::view::{Ctx, ReleaseView, scenario_f64};

/// A component the chart runs as a Deployment or a StatefulSet.
struct Workload {
    component: String,
    kind: &'static str,
    containers: Vec<(String, String)>,
    labels: std::collections::BTreeMap<String, String>,
}

/// A job the chart runs once per install or upgrade (hooks off).
pub(super) struct ChartJob {
    pub(super) name: String,
    component: &'static str,
    container: &'static str,
}

fn bool_at(v: &Value, path: &[&str], default: bool) -> bool {
    path.iter().fold(v, |cur, p| &cur[*p]).as_bool().unwrap_or(default)
}

/// The components the values enable, and the kind each runs as, after the chart 1.22.0's
/// templates: `scheduler/scheduler-deployment.yaml` makes a StatefulSet for a Local executor with
/// worker persistence, `triggerer/triggerer-deployment.yaml` one with triggerer persistence.
/// Workers here are always a StatefulSet, where `workers/worker-deployment.yaml` makes a
/// Deployment without `workers.persistence.enabled`.
fn components(v: &Value, major: u32, executor: &str) -> Vec<(&'static str, &'static str)> {
    let mut comps = Vec::new();
    if major >= 3 {
        comps.push(("api-server", "Deployment"));
    } else if bool_at(v, &["webserver", "enabled"], true) {
        comps.push(("webserver", "Deployment"));
    }
    let workers_persistent = bool_at(v, &["workers", "persistence", "enabled"], true);
    let scheduler_kind =
        if executor.contains("LocalExecutor") && workers_persistent { "StatefulSet" } else { "Deployment" };
    comps.push(("scheduler", scheduler_kind));
    if major >= 3 && bool_at(v, &["dagProcessor", "enabled"], true)
        || major < 3 && bool_at(v, &["dagProcessor", "enabled"], false)
    {
        comps.push(("dag-processor", "Deployment"));
    }
    if bool_at(v, &["triggerer", "enabled"], true) {
        let persistent = bool_at(v, &["triggerer", "persistence", "enabled"], true);
        comps.push(("triggerer", if persistent { "StatefulSet" } else { "Deployment" }));
    }
    if executor.contains("Celery") {
        comps.push(("worker", "StatefulSet"));
        if bool_at(v, &["redis", "enabled"], true) {
            comps.push(("redis", "StatefulSet"));
        }
    }
    if bool_at(v, &["statsd", "enabled"], true) {
        comps.push(("statsd", "Deployment"));
    }
    if bool_at(v, &["pgbouncer", "enabled"], false) {
        comps.push(("pgbouncer", "Deployment"));
    }
    comps
}

/// A component's workload: its main container, and the log groomer beside those that have one.
fn workload(r: &ReleaseView, component: &str, kind: &'static str, image: &str) -> Workload {
    let v = &r.values;
    let groomer_key = match component {
        "scheduler" => Some("scheduler"),
        "dag-processor" => Some("dagProcessor"),
        "triggerer" => Some("triggerer"),
        "worker" => Some("workers"),
        _ => None,
    };
    let main_image = match component {
        "redis" => "redis:7.2-bookworm",
        "statsd" => "quay.io/prometheus/statsd-exporter:v0.28.0",
        "pgbouncer" => "apache/airflow:airflow-pgbouncer-2025.03.05-1.23.1",
        _ => image,
    };
    let mut containers = vec![(component.to_string(), main_image.to_string())];
    if let Some(key) = groomer_key
        && bool_at(v, &[key, "logGroomerSidecar", "enabled"], true)
    {
        containers.push((format!("{component}-log-groomer"), image.to_string()));
    }
    let labels = labels([("tier", "airflow"), ("component", component), ("release", r.name.as_str())]);
    Workload { component: component.to_string(), kind, containers, labels }
}

fn release_workloads(r: &ReleaseView) -> Vec<Workload> {
    let v = &r.values;
    let version = match &v["airflowVersion"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "3.2.2".to_string(),
    };
    let major: u32 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(3);
    let executor = v["executor"].as_str().unwrap_or("CeleryExecutor");
    let image = airflow_image_of(v, &version);
    let mut out: Vec<Workload> =
        components(v, major, executor).into_iter().map(|(c, kind)| workload(r, c, kind, &image)).collect();
    if bool_at(v, &["postgresql", "enabled"], true) {
        out.push(Workload {
            component: "postgresql".into(),
            kind: "StatefulSet",
            containers: vec![("postgresql".into(), "bitnami/postgresql:16.1.0-debian-11-r15".into())],
            labels: labels([
                ("app.kubernetes.io/name", "postgresql"),
                ("app.kubernetes.io/instance", r.name.as_str()),
                ("app.kubernetes.io/component", "primary"),
            ]),
        });
    }
    out
}

/// `images.airflow`, else `defaultAirflowRepository`:`defaultAirflowTag` (the tag defaults to the
/// Airflow version).
fn airflow_image_of(v: &Value, version: &str) -> String {
    let repo = v["images"]["airflow"]["repository"]
        .as_str()
        .or(v["defaultAirflowRepository"].as_str())
        .unwrap_or("apache/airflow");
    let tag = v["images"]["airflow"]["tag"].as_str().or(v["defaultAirflowTag"].as_str()).unwrap_or(version);
    format!("{repo}:{tag}")
}

fn airflow_image(r: &ReleaseView) -> String {
    release_workloads(r)
        .into_iter()
        .find(|w| w.component == "scheduler")
        .map(|w| w.containers[0].1.clone())
        .unwrap_or("apache/airflow:3.2.2".into())
}

pub(super) fn release_jobs(r: &ReleaseView) -> Vec<ChartJob> {
    let mut out = Vec::new();
    if bool_at(&r.values, &["migrateDatabaseJob", "enabled"], true) {
        out.push(ChartJob {
            name: format!("{}-run-airflow-migrations", r.name),
            component: "run-airflow-migrations",
            container: "run-airflow-migrations",
        });
    }
    if bool_at(&r.values, &["createUserJob", "enabled"], true) {
        out.push(ChartJob {
            name: format!("{}-create-user", r.name),
            component: "create-user-job",
            container: "create-user",
        });
    }
    out
}

fn job_failed(ctx: &Ctx, job: &ChartJob) -> bool {
    let jobs = &ctx.scenario["jobs"];
    let alias = if job.component == "create-user-job" { "create-user" } else { job.component };
    [job.component, alias, &job.name].iter().any(|k| jobs[*k].as_str() == Some("failed"))
}

/// The chart's jobs of a release that a client has not deleted since it last rolled.
fn live_jobs(state: &State, r: &ReleaseView) -> Vec<ChartJob> {
    let deleted = |j: &ChartJob| state.deleted_jobs.contains(&format!("{}/{}@{}", r.ns, j.name, r.rolled_at));
    release_jobs(r).into_iter().filter(|j| !deleted(j)).collect()
}

/// The pods of every release's workloads and jobs.
pub(super) fn release_pods(ctx: &Ctx, state: &State) -> Vec<PodPlan> {
    let mut out = Vec::new();
    for r in &ctx.releases {
        let image = airflow_image(r);
        let refs = config_refs(&r.values);
        for w in release_workloads(r) {
            let mut pod = workload_pod(state, r, w, &image);
            if !pod.init.is_empty() {
                pod.config_error = config_error(ctx, state, &r.ns, &refs);
            }
            out.push(pod);
        }
        for job in live_jobs(state, r) {
            let failed = job_failed(ctx, &job);
            let mut labels = labels([
                ("tier", "airflow"),
                ("component", job.component),
                ("release", r.name.as_str()),
                ("job-name", job.name.as_str()),
                ("batch.kubernetes.io/job-name", job.name.as_str()),
            ]);
            labels.insert("controller-uid".into(), uid(&format!("{}/{}", r.ns, job.name)));
            out.push(PodPlan {
                name: format!("{}-{}", job.name, suffix(&format!("{}/{}/{}", r.ns, job.name, r.rolled_at), 5)),
                ns: r.ns.clone(),
                labels,
                containers: vec![(job.container.to_string(), image.clone())],
                init: Vec::new(),
                since: r.rolled_at,
                keys: vec![job.component.to_string(), job.name.clone()],
                job: Some(failed),
                owner: Some(Owner::new("batch/v1", "Job", &job.name)),
                node: r.node.clone(),
                // devflow sets `applyCustomEnv: false`: the jobs carry none of the custom env
                // (`jobs/migrate-database-job.yaml`, `jobs/create-user-job.yaml`).
                config_error: None,
            });
        }
    }
    out
}

/// A workload's one pod (replicas are 1 on a laptop): `-0` of a StatefulSet, a ReplicaSet's
/// hashed name of a Deployment. A pod deleted by a client comes back under a new name.
fn workload_pod(state: &State, r: &ReleaseView, w: Workload, image: &str) -> PodPlan {
    let owner = format!("{}-{}", r.name, w.component);
    let (restarted, count) = state.restarts.get(&(r.ns.clone(), owner.clone())).copied().unwrap_or((0.0, 0));
    let since = r.rolled_at.max(restarted).max(r.cluster_started);
    let seed = format!("{}/{}/{}/{}/{}", r.context, r.ns, owner, r.rolled_at, count);
    let template_hash = suffix(&format!("{}/{}/{}", r.ns, owner, r.rolled_at), 10);
    let mut labels = w.labels;
    let (name, owner_ref) = if w.kind == "StatefulSet" {
        let name = format!("{owner}-0");
        labels.insert("statefulset.kubernetes.io/pod-name".into(), name.clone());
        labels.insert("apps.kubernetes.io/pod-index".into(), "0".into());
        (name, Owner::new("apps/v1", "StatefulSet", &owner))
    } else {
        let rs = format!("{owner}-{template_hash}");
        labels.insert("pod-template-hash".into(), template_hash);
        (format!("{rs}-{}", suffix(&seed, 5)), Owner::new("apps/v1", "ReplicaSet", &rs))
    };
    let waits_for_migrations = matches!(
        w.component.as_str(),
        "api-server" | "webserver" | "scheduler" | "dag-processor" | "triggerer" | "worker"
    );
    PodPlan {
        name,
        ns: r.ns.clone(),
        labels,
        containers: w.containers,
        init: if waits_for_migrations {
            vec![("wait-for-airflow-migrations".to_string(), image.to_string())]
        } else {
            Vec::new()
        },
        since,
        keys: vec![w.component.clone(), owner],
        job: None,
        owner: Some(owner_ref),
        node: r.node.clone(),
        config_error: None,
    }
}

/// The Secrets and ConfigMaps the chart 1.22.0 puts in the env of every Airflow container that
/// waits for migrations (`templates/_helpers.yaml`): `custom_airflow_environment` makes each
/// `secret[]` entry a `secretKeyRef {secretName, secretKey | default "value"}` and templates
/// `extraEnv` (a YAML string) into the env list; `custom_airflow_environment_from` templates
/// `extraEnvFrom` into `envFrom`. `optional: true` references are skipped, as the kubelet does.
fn config_refs(values: &Value) -> Vec<ConfigRef> {
    let mut refs = Vec::new();
    for entry in values["secret"].as_array().into_iter().flatten() {
        if let Some(name) = entry["secretName"].as_str() {
            let key = entry["secretKey"].as_str().unwrap_or("value").to_string();
            refs.push(ConfigRef { kind: "Secret", name: name.to_string(), key: Some(key) });
        }
    }
    for templated in ["extraEnv", "extraEnvFrom"] {
        let Some(text) = values[templated].as_str() else { continue };
        let items: Vec<Value> = serde_norway::from_str(text).unwrap_or_default();
        for item in &items {
            let from = item.get("valueFrom").unwrap_or(item);
            for (field, kind) in [
                ("secretKeyRef", "Secret"),
                ("configMapKeyRef", "ConfigMap"),
                ("secretRef", "Secret"),
                ("configMapRef", "ConfigMap"),
            ] {
                let reference = &from[field];
                if let Some(name) = reference["name"].as_str()
                    && reference["optional"] != Value::Bool(true)
                {
                    let key = reference["key"].as_str().map(str::to_string);
                    refs.push(ConfigRef { kind, name: name.to_string(), key });
                }
            }
        }
    }
    refs
}

fn chart_meta(r: &ReleaseView, name: &str, component: &str, seed: &str) -> ObjectMeta {
    let mut metadata = meta(name, Some(&r.ns), r.rolled_at, seed);
    let chart = format!("airflow-{}", r.chart_version);
    metadata.labels = Some(labels([
        ("tier", "airflow"),
        ("component", component),
        ("release", r.name.as_str()),
        ("chart", chart.as_str()),
        ("heritage", "Helm"),
    ]));
    metadata
}

fn pod_template(labels: std::collections::BTreeMap<String, String>, spec: PodSpec) -> PodTemplateSpec {
    PodTemplateSpec { metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }), spec: Some(spec) }
}

fn containers(list: &[(String, String)]) -> Vec<Container> {
    list.iter()
        .map(|(name, image)| Container { name: name.clone(), image: Some(image.clone()), ..Default::default() })
        .collect()
}

/// The chart's Jobs, active until `pod_ready_after_s` after the release rolled.
pub(super) fn job_objects(ctx: &Ctx, state: &State) -> Vec<Value> {
    let after = scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3);
    let mut out = Vec::new();
    for r in &ctx.releases {
        for job in live_jobs(state, r) {
            let failed = job_failed(ctx, &job);
            let mut metadata =
                chart_meta(r, &job.name, job.component, &format!("{}/{}/{}", r.ns, job.name, r.rolled_at));
            let controller_uid = uid(&format!("{}/{}", r.ns, job.name));
            let template_labels =
                labels([("tier", "airflow"), ("component", job.component), ("release", r.name.as_str())]);
            let spec = JobSpec {
                backoff_limit: Some(6),
                completions: Some(1),
                parallelism: Some(1),
                completion_mode: Some("NonIndexed".into()),
                suspend: Some(false),
                selector: Some(LabelSelector {
                    match_labels: Some(labels([("batch.kubernetes.io/controller-uid", controller_uid.as_str())])),
                    ..Default::default()
                }),
                template: pod_template(
                    template_labels,
                    PodSpec {
                        restart_policy: Some("OnFailure".into()),
                        containers: containers(&[(job.container.to_string(), airflow_image(r))]),
                        ..Default::default()
                    },
                ),
                ..Default::default()
            };
            let status = job_status(ctx, r.rolled_at, r.rolled_at + after, failed);
            metadata.resource_version = Some(resource_version(&to_json(&status)));
            out.push(to_json(Job { metadata, spec: Some(spec), status: Some(status) }));
        }
    }
    out
}

/// The chart's Deployments or StatefulSets, ready as their pods are.
pub(super) fn workload_objects(ctx: &Ctx, state: &State, want: &str) -> Vec<Value> {
    let pods = super::controllers::planned_pods(ctx, state);
    let mut out = Vec::new();
    for r in &ctx.releases {
        for w in release_workloads(r).into_iter().filter(|w| w.kind == want) {
            let name = format!("{}-{}", r.name, w.component);
            let ready = pods
                .iter()
                .filter(|p| p.ns == r.ns && p.keys.get(1) == Some(&name))
                .filter(|p| {
                    let conditions = pod_status(ctx, p).0.conditions.unwrap_or_default();
                    conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                })
                .count() as i32;
            let mut metadata = chart_meta(r, &name, &w.component, &format!("{}/{name}", r.ns));
            metadata.generation = Some(1);
            let selector = LabelSelector {
                match_labels: Some(labels([
                    ("tier", "airflow"),
                    ("component", w.component.as_str()),
                    ("release", r.name.as_str()),
                ])),
                ..Default::default()
            };
            let template =
                pod_template(w.labels.clone(), PodSpec { containers: containers(&w.containers), ..Default::default() });
            let object = if want == "Deployment" {
                let status = deployment_status(1, ready, 1, &name);
                metadata.resource_version = Some(resource_version(&to_json(&status)));
                to_json(Deployment {
                    metadata,
                    spec: Some(DeploymentSpec { replicas: Some(1), selector, template, ..Default::default() }),
                    status: Some(status),
                })
            } else {
                let status = stateful_set_status(1, ready, 1, &name);
                metadata.resource_version = Some(resource_version(&to_json(&status)));
                to_json(StatefulSet {
                    metadata,
                    spec: Some(StatefulSetSpec { replicas: Some(1), selector, template, ..Default::default() }),
                    status: Some(status),
                })
            };
            out.push(object);
        }
    }
    out
}
