//! The Airflow chart's workloads, made from the values Helm got (the chart 1.22.0's templates):
//! which components run and as what kind, their containers, pods and jobs.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::Value;

use super::State;
use super::controllers::{deployment_status, job_status, stateful_set_status, to_json};
use super::envrefs::{config_error, config_refs};
use super::identity::{labels, meta, resource_version, suffix, uid};
use super::kubelet::{JobRun, Owner, PodPlan, pod_status};
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

/// Scenario `jobs` (`{"run-airflow-migrations": "failed"}`) fails a job of every release;
/// `jobs_on_image` (`{"apache/airflow:3.3.2": {...}}`) only of a release that runs that image: an
/// upgrade whose new version's migration fails, after the old one's succeeded.
fn job_failed(ctx: &Ctx, r: &ReleaseView, job: &ChartJob) -> bool {
    let alias = if job.component == "create-user-job" { "create-user" } else { job.component };
    let fails = |jobs: &Value| [job.component, alias, &job.name].iter().any(|k| jobs[*k].as_str() == Some("failed"));
    fails(&ctx.scenario["jobs"]) || fails(&ctx.scenario["jobs_on_image"][airflow_image(r)])
}

/// The chart's jobs of a release that a client has not deleted since it last rolled.
fn live_jobs(state: &State, r: &ReleaseView) -> Vec<ChartJob> {
    let deleted = |j: &ChartJob| state.deleted_jobs.contains(&format!("{}/{}@{}", r.ns, j.name, r.jobs_at));
    release_jobs(r).into_iter().filter(|j| !deleted(j)).collect()
}

/// The pods of every release's workloads and jobs.
pub(super) fn release_pods(ctx: &Ctx, state: &State) -> Vec<PodPlan> {
    let mut out = Vec::new();
    for r in &ctx.releases {
        let image = airflow_image(r);
        let jobs = job_pods(ctx, state, r);
        // With hooks off every component starts with the migration job (FACTS.md): its end is
        // what the init containers wait for; a release whose job is gone migrated before.
        let migrations_done = jobs
            .iter()
            .find(|(j, _)| j.component == "run-airflow-migrations")
            .map(|(_, p)| p.job_outcome(ctx).map(|(at, failed)| if failed { f64::INFINITY } else { at }))
            .unwrap_or(Some(f64::NEG_INFINITY))
            .unwrap_or(f64::INFINITY);
        let refs = config_refs(&r.values);
        for w in release_workloads(r) {
            let component = w.component.clone();
            out.extend(workload_pods(ctx, state, r, w, &image, migrations_done).into_iter().map(|mut pod| {
                // The chart's custom env is on the containers that wait for migrations;
                // devflow sets `applyCustomEnv: false`, so the jobs carry none of it
                // (`jobs/migrate-database-job.yaml`, `jobs/create-user-job.yaml`).
                if !pod.init.is_empty() {
                    pod.config_error = config_error(ctx, state, &r.ns, &refs);
                }
                if let Some(message) = super::refusals::missing_claim(ctx, state, r, &component) {
                    pod.waits_for_room = Some((f64::INFINITY, message));
                }
                pod.pull_error =
                    pod.containers.iter().find_map(|(_, image)| super::refusals::pull_error(ctx, r, image));
                pod
            }));
        }
        out.extend(jobs.into_iter().map(|(_, p)| p));
    }
    out
}

/// The chart's live jobs of a release, each with its pod. The migration job runs
/// `migration_s` (scenario; default `pod_ready_after_s`); the create-user job (restartPolicy
/// OnFailure, no wait init container: chart 1.22.0 `jobs/create-user-job.yaml`) fails until the
/// migrations are done, and `create_user_fails` (scenario) tries more.
fn job_pods(ctx: &Ctx, state: &State, r: &ReleaseView) -> Vec<(ChartJob, PodPlan)> {
    let after = scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3);
    let image = airflow_image(r);
    let mut migrations_done = f64::NEG_INFINITY;
    let mut out = Vec::new();
    for job in live_jobs(state, r) {
        let migrating = job.component == "run-airflow-migrations";
        let pod_name = format!("{}-{}", job.name, suffix(&format!("{}/{}/{}", r.ns, job.name, r.jobs_at), 5));
        let on_host = if migrating { super::hostjobs::migration(&ctx.scenario, &image, &pod_name) } else { None };
        let (run, failed) = match on_host.map(|j| j.ended) {
            // Still running: done some time after now.
            Some(None) => (ctx.now - r.rolled_at + 3600.0, false),
            Some(Some((ended, succeeded))) => ((ended - r.rolled_at).max(0.01), !succeeded),
            None if migrating => (scenario_f64(&ctx.scenario, "migration_s", after), job_failed(ctx, r, &job)),
            None => (after, job_failed(ctx, r, &job)),
        };
        let run = JobRun {
            run,
            failed,
            retries: if migrating { 0 } else { ctx.scenario["create_user_fails"].as_u64().unwrap_or(0) as u32 },
            fails_until: if migrating { f64::NEG_INFINITY } else { migrations_done },
        };
        let mut labels = labels([
            ("tier", "airflow"),
            ("component", job.component),
            ("release", r.name.as_str()),
            ("job-name", job.name.as_str()),
            ("batch.kubernetes.io/job-name", job.name.as_str()),
        ]);
        labels.insert("controller-uid".into(), uid(&format!("{}/{}", r.ns, job.name)));
        let pod = PodPlan {
            name: pod_name,
            labels,
            containers: vec![(job.container.to_string(), image.clone())],
            ns: r.ns.clone(),
            keys: vec![job.component.to_string(), job.name.clone()],
            job: Some(run),
            owner: Some(Owner::new("batch/v1", "Job", &job.name)),
            ..PodPlan::simple("", Vec::new(), r.jobs_at, r.node.clone())
        };
        if migrating {
            migrations_done = pod.job_outcome(ctx).map(|(at, f)| if f { f64::INFINITY } else { at }).unwrap_or(0.0);
        }
        out.push((job, pod));
    }
    out
}

/// A workload's one pod (replicas are 1 on a laptop): `-0` of a StatefulSet, a ReplicaSet's
/// hashed name of a Deployment. A pod deleted by a client comes back under a new name.
fn workload_pod(state: &State, r: &ReleaseView, w: &Workload, image: &str, rolled_at: f64, since: f64) -> PodPlan {
    let owner = format!("{}-{}", r.name, w.component);
    let (_, count) = state.restarts.get(&(r.ns.clone(), owner.clone())).copied().unwrap_or((0.0, 0));
    let seed = format!("{}/{}/{}/{}/{}", r.context, r.ns, owner, rolled_at, count);
    let template_hash = suffix(&format!("{}/{}/{}", r.ns, owner, rolled_at), 10);
    let mut labels = w.labels.clone();
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
        containers: w.containers.clone(),
        init: if waits_for_migrations {
            vec![("wait-for-airflow-migrations".to_string(), image.to_string())]
        } else {
            Vec::new()
        },
        keys: vec![w.component.clone(), owner],
        owner: Some(owner_ref),
        ..PodPlan::simple("", Vec::new(), since, r.node.clone())
    }
}

/// A workload's pods now: its pod, and around it what a real cluster shows for a while.
/// - After the node containers start again (`docker start`), the API server serves the pods'
///   status from before the stop (Ready) for `stale_status_s` (scenario) until the kubelet,
///   re-registered, restarts them.
/// - A rollout (`rollout_terminate_s`, scenario: how long an old pod takes to terminate): a
///   StatefulSet's old pod terminates before its new one is made (kubernetes
///   pkg/controller/statefulset/stateful_set_control.go, RollingUpdate); a Deployment's new pod
///   comes first and the old one goes once it is ready (chart 1.22.0 api-server-deployment.yaml:
///   maxSurge 1, maxUnavailable 0). On a node of `node_cpu` ≤ 2 (scenario) the new pods wait
///   `Unschedulable: Insufficient cpu` while a terminating pod still holds its requests.
/// - `evicted` (pods scenario): a Failed Evicted pod beside a Deployment's replacement (a
///   StatefulSet deletes and remakes its failed pod under the same name).
fn workload_pods(ctx: &Ctx, state: &State, r: &ReleaseView, w: Workload, image: &str, migrated: f64) -> Vec<PodPlan> {
    let owner = format!("{}-{}", r.name, w.component);
    let (restarted, _) = state.restarts.get(&(r.ns.clone(), owner)).copied().unwrap_or((0.0, 0));
    let before = r.rolled_at.max(restarted);
    let stale_s = scenario_f64(&ctx.scenario, "stale_status_s", 0.0);
    let since = match r.cluster_started > before {
        true if ctx.now < r.cluster_started + stale_s => before,
        true => r.cluster_started + stale_s,
        false => before,
    };
    let with_migrations = |mut p: PodPlan| {
        if !p.init.is_empty() {
            p.migrations_done = Some(migrated);
        }
        p
    };
    if let Some((at, 0)) = scaled(state, r, &format!("{}-{}", r.name, w.component)) {
        // Scaled to 0: the controller deletes the pod, which terminates for its grace period
        // (scenario `scale_down_s`, default 0.3) and is gone (kubernetes v1.34.0
        // pkg/controller/replicaset/replica_set.go `manageReplicas` and
        // pkg/controller/statefulset/stateful_set_control.go delete the surplus pods).
        let pod = with_migrations(workload_pod(state, r, &w, image, r.rolled_at, since));
        return match ctx.now < at + scenario_f64(&ctx.scenario, "scale_down_s", 0.3) {
            true => vec![PodPlan { deleting: Some(at), ..pod }],
            false => Vec::new(),
        };
    }
    let terminate = scenario_f64(&ctx.scenario, "rollout_terminate_s", 0.0);
    let mut pod = with_migrations(workload_pod(state, r, &w, image, r.rolled_at, since));
    let Some(prev) = r.rolled_before.filter(|_| terminate > 0.0 && since == r.rolled_at.max(restarted)) else {
        return with_eviction(ctx, pod);
    };
    let old = with_migrations(workload_pod(state, r, &w, image, prev, prev));
    let terminated_by = r.rolled_at + terminate;
    if w.kind == "StatefulSet" {
        if ctx.now < terminated_by {
            return vec![PodPlan { deleting: Some(r.rolled_at), ..old }];
        }
        pod.since = terminated_by;
        return vec![pod];
    }
    if scenario_f64(&ctx.scenario, "node_cpu", 4.0) <= 2.0 {
        let message = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
        pod.waits_for_room = Some((terminated_by, message.to_string()));
    }
    let replaced_at = pod.ready_at(ctx);
    match ctx.now {
        t if t < replaced_at => vec![old, pod],
        t if t < replaced_at + terminate => vec![PodPlan { deleting: Some(replaced_at), ..old }, pod],
        _ => vec![pod],
    }
}

/// The replicas a client scaled a workload to since Helm last upgraded the release: a `helm upgrade`
/// puts the chart's replicas back (Helm 3 patches the live object towards the new manifest, a
/// three-way merge: helm v3 pkg/kube/client.go `createPatch` calls
/// `strategicpatch.CreateThreeWayMergePatch(original, target, current)`).
fn scaled(state: &State, r: &ReleaseView, workload: &str) -> Option<(f64, i32)> {
    state.scaled.get(&(r.ns.clone(), workload.to_string())).copied().filter(|(at, _)| *at >= r.updated)
}

/// The replicas of one of the chart's workloads now (1, the laptop's, unless a client scaled it),
/// or None when no release has a workload of that name.
pub(super) fn replicas(ctx: &Ctx, state: &State, ns: &str, workload: &str) -> Option<i32> {
    let r = ctx.releases.iter().find(|r| {
        r.ns == ns && release_workloads(r).iter().any(|w| format!("{}-{}", r.name, w.component) == workload)
    })?;
    Some(scaled(state, r, workload).map_or(1, |(_, n)| n))
}

/// The pod, and beside it an evicted one when the scenario has it (Deployments only).
fn with_eviction(ctx: &Ctx, pod: PodPlan) -> Vec<PodPlan> {
    let message = pod.keys.iter().find_map(|k| ctx.scenario["pods"][k]["evicted"].as_str()).map(String::from);
    let is_replica_set = pod.owner.as_ref().is_some_and(|o| o.kind == "ReplicaSet");
    match message.filter(|_| is_replica_set) {
        Some(message) => {
            let name = format!(
                "{}-{}",
                pod.name.rsplit_once('-').map(|(rs, _)| rs).unwrap_or(&pod.name),
                suffix(&pod.name, 5)
            );
            let evicted = PodPlan {
                name,
                ns: pod.ns.clone(),
                labels: pod.labels.clone(),
                containers: pod.containers.clone(),
                init: pod.init.clone(),
                keys: Vec::new(),
                owner: pod.owner.as_ref().map(|o| Owner::new(o.api_version, o.kind, &o.name)),
                evicted: Some(message),
                ..PodPlan::simple("", Vec::new(), pod.since - 600.0, pod.node.clone())
            };
            vec![evicted, pod]
        }
        None => vec![pod],
    }
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
    let mut out = Vec::new();
    for r in &ctx.releases {
        for (job, pod) in job_pods(ctx, state, r) {
            let (done_at, failed) = pod.job_outcome(ctx).unwrap_or((f64::INFINITY, false));
            let retrying = pod.retrying(ctx);
            let mut metadata = chart_meta(r, &job.name, job.component, &format!("{}/{}/{}", r.ns, job.name, r.jobs_at));
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
            let mut status = job_status(ctx, r.jobs_at, done_at, failed);
            if retrying {
                // restartPolicy OnFailure: the pod restarts in place, still active, none failed.
                status.active = Some(1);
            }
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
            let replicas = scaled(state, r, &name).map_or(1, |(_, n)| n);
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
                let status = deployment_status(replicas, ready, 1, &name);
                metadata.resource_version = Some(resource_version(&to_json(&status)));
                to_json(Deployment {
                    metadata,
                    spec: Some(DeploymentSpec { replicas: Some(replicas), selector, template, ..Default::default() }),
                    status: Some(status),
                })
            } else {
                let status = stateful_set_status(replicas, ready, 1, &name);
                metadata.resource_version = Some(resource_version(&to_json(&status)));
                to_json(StatefulSet {
                    metadata,
                    spec: Some(StatefulSetSpec { replicas: Some(replicas), selector, template, ..Default::default() }),
                    status: Some(status),
                })
            };
            out.push(object);
        }
    }
    out
}
