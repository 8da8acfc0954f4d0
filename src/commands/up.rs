//! `devflow up`: the plan carried out, each phase only if what it would make differs from what
//! the state folder says was made, and recorded before and after, so that an interrupted `up` is
//! carried on by the next.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::lifecycle::{self, step};
use super::push::Pushers;
use crate::cli::UpArgs;
use crate::cluster::{self, Ownership};
use crate::config::{ClusterTool, StateFile};
use crate::env::Env;
use crate::helm::Helm;
use crate::kube;
use crate::plan::{self, Plan, manifests};
use crate::session::{Follow, Session};
use crate::state::{self, Phase, State};
use crate::tool::Tool;
use crate::ui::{self, Printer};

/// Returns the watch loop's settings when `up` goes on to watch the project.
pub async fn run(args: &UpArgs, env: &Env, printer: &mut Printer) -> Result<Option<super::watch::Watching>> {
    let target = Session::open(env, &args.project.settings(&args.set), Follow::Settings, printer)?;
    if args.dry_run {
        printer.out(&super::render::steps_text(&target.plan)).context("cannot write to standard output")?;
        return Ok(None);
    }
    let started = Instant::now();
    let deadline = started + args.timeout;
    let plan = &target.plan;
    let mut state = match target.state.clone() {
        Some(state) => {
            if let Some(previous) = state.provider.filter(|p| *p != plan.provider && state.cluster.was_touched()) {
                bail!(
                    "this project's cluster was made with {previous}, and devflow.toml or --provider now asks for {}\n  run `devflow down` first to remove the {previous} cluster, then `devflow up`",
                    plan.provider
                );
            }
            state
        }
        None => State {
            project_root: target.project.root.clone(),
            provider: Some(plan.provider),
            cluster_name: plan.cluster_name.clone(),
            context: plan.context.clone(),
            ..State::default()
        },
    };
    let mut timings: Vec<(&str, Duration)> = Vec::new();
    let mut changed = false;

    // Preflight: Docker and the cluster's tool (for a cluster devflow makes), helm.
    let phase = Instant::now();
    let laptop = match plan.provider.cluster_tool() {
        Some(laptop) => Some(laptop_preflight(laptop, &target, &state, args.yes, printer).await?),
        None => None,
    };
    let helm = Helm { tool: lifecycle::ensure_tool(Tool::Helm, args.yes, env, printer).await? };
    let (helm_version, helm_text) = Tool::Helm.version(&helm.tool).await?;
    let (minimum, why) = Tool::Helm.minimum();
    if helm_version.is_some_and(|v| v < minimum) {
        bail!(
            "helm at {} is {helm_text}: {why}\n  upgrade helm (https://helm.sh/docs/intro/install/), or remove it from PATH and run `devflow up --yes` to use a pinned copy",
            helm.tool.path.display()
        );
    }
    timings.push(("preflight", phase.elapsed()));

    let (kube, image) = match laptop {
        Some((daemon, cluster)) => {
            let made = laptop_cluster(&cluster, &daemon, &target, &mut state, deadline, &mut timings, printer).await?;
            changed |= made.changed;
            (made.kube, made.image)
        }
        None => {
            let phase = Instant::now();
            let (kube, fresh) = existing_namespace(&target, printer).await?;
            if fresh {
                state.manifests = Phase::NotStarted;
                state.release = Phase::NotStarted;
            }
            timings.push(("namespace", phase.elapsed()));
            (kube, None)
        }
    };

    // devflow's own objects: namespace, PostgreSQL, the DAG volume.
    let phase = Instant::now();
    let secrets = target.store.secrets(plan)?;
    let manifests_digest = state::digest(&plan.manifests);
    if state.manifests.is_done_with(&manifests_digest) {
        printer.done("devflow's objects are applied (unchanged)");
    } else {
        state.manifests = Phase::Started { digest: manifests_digest.clone() };
        target.store.save(&state)?;
        let objects = secrets.fill_manifests(plan);
        step(printer, "Applying devflow's objects", kube.apply(&objects), |_| {
            format!("Applied {} objects (namespace, PostgreSQL, DAG volume)", objects.len())
        })
        .await?;
        state.manifests = Phase::Done { digest: manifests_digest };
        target.store.save(&state)?;
        changed = true;
    }
    timings.push(("objects", phase.elapsed()));

    // The release.
    let phase = Instant::now();
    let release_digest = state::digest(&(&plan.values, &plan.chart, &plan.chart_version, &image));
    let deployed = helm.status(plan).await?.filter(|r| r.status == "deployed");
    match deployed {
        Some(release) if state.release.is_done_with(&release_digest) => {
            printer.done(&format!("Airflow release is installed (unchanged, revision {})", release.revision));
        }
        _ => {
            state.release = Phase::Started { digest: release_digest.clone() };
            target.store.save(&state)?;
            if deployed.is_some() {
                // A Job's pod template cannot change, and without Helm hooks the chart's
                // migration and create-user jobs live on for their TTL: Helm would fail with
                // "field is immutable". Gone, Helm creates them again and they run once more.
                kube.delete_jobs(
                    &plan.namespace,
                    &format!(
                        "release={},component in ({},{})",
                        plan::RELEASE,
                        plan::MIGRATIONS_JOB,
                        plan::CREATE_USER_JOB
                    ),
                )
                .await?;
            }
            let mut values = secrets.fill_values(plan);
            if let Some(tag) = &image {
                run_image(&mut values, tag);
            }
            let values = crate::values::to_yaml(&values);
            target.store.write(StateFile::Values, values.as_bytes(), 0o600)?;
            let values_file = target.store.path(StateFile::Values).display().to_string();
            let timeout = deadline.saturating_duration_since(Instant::now());
            let doing = format!("Installing the Airflow chart {} (helm upgrade --install)", plan.chart_version);
            step(printer, &doing, helm.upgrade_install(plan, &values_file, timeout), |_| {
                format!(
                    "Installed the Airflow chart {} (Airflow {}, {})",
                    plan.chart_version, plan.airflow_version, plan.executor
                )
            })
            .await?;
            state.release = Phase::Done { digest: release_digest };
            target.store.save(&state)?;
            changed = true;
        }
    }
    timings.push(("helm", phase.elapsed()));

    let phase = Instant::now();
    lifecycle::wait_airflow(&kube, &plan.namespace, &lifecycle::expectations(plan), deadline, printer).await?;
    timings.push(("airflow", phase.elapsed()));

    let mut pushers = Pushers::for_session(&target);
    if let Some(pushers) = pushers.as_mut() {
        let phase = Instant::now();
        pushers.push(&kube, printer).await?;
        timings.push(("push", phase.elapsed()));
    }

    if !changed {
        printer.note("nothing changed: no cluster was created and no Helm upgrade ran");
    }
    printer.out(&summary(plan, &timings, started.elapsed())).context("cannot write to standard output")?;
    if args.no_watch {
        return Ok(None);
    }
    Ok(Some(super::watch::for_project(&target, pushers, printer)?))
}

/// Docker, the cluster's tool, and the files the tool reads, for a cluster devflow makes.
async fn laptop_preflight(
    laptop: ClusterTool,
    target: &Session,
    state: &State,
    yes: bool,
    printer: &mut Printer,
) -> Result<(crate::docker::Daemon, cluster::Cluster)> {
    let plan = &target.plan;
    let daemon = lifecycle::docker(&target.env).await?;
    let machine = daemon.machine().await?;
    if machine.memory_gib() + 0.25 < f64::from(plan.needs.memory_gib) {
        printer.warn(&format!(
            "Docker has {:.1} GiB of memory and the profile `{}` needs {} GiB: pods may not fit (`devflow doctor` says more)",
            machine.memory_gib(),
            plan.profile,
            plan.needs.memory_gib
        ));
    }
    let tool = lifecycle::ensure_tool(Tool::from(laptop), yes, &target.env, printer).await?;
    target.store.write(
        StateFile::OwnerMarker,
        cluster::marker_text(&state.project_root, &plan.cluster_name).as_bytes(),
        0o644,
    )?;
    if laptop == ClusterTool::K3d {
        target.store.write(StateFile::K3dConfig, crate::values::to_yaml(&plan.cluster).as_bytes(), 0o600)?;
    }
    Ok((daemon, cluster::Cluster::new(laptop, &plan.cluster_name, tool)))
}

/// What making (or finding) a kind or k3d cluster left: a client, the project's image, and
/// whether anything was made.
struct Made {
    kube: kube::ApiClient,
    image: Option<String>,
    changed: bool,
}

/// The cluster (created unless this project's exists), its nodes Ready, the project's image.
async fn laptop_cluster(
    cluster: &cluster::Cluster,
    daemon: &crate::docker::Daemon,
    target: &Session,
    state: &mut State,
    deadline: Instant,
    timings: &mut Vec<(&str, Duration)>,
    printer: &mut Printer,
) -> Result<Made> {
    let plan = &target.plan;
    let marker = lifecycle::marker(target);
    let mut changed = false;
    // The cluster.
    let phase = Instant::now();
    let cluster_digest = state::digest(&plan.cluster);
    let (containers, ownership) = lifecycle::nodes(target, cluster.provider, daemon).await?;
    lifecycle::check_ours(&ownership, plan, &marker)?;
    if ownership == Ownership::Absent && cluster.exists().await? {
        // The tool knows the name but Docker shows no node: not a cluster devflow can prove is its.
        lifecycle::check_ours(&Ownership::Foreign { containers: Vec::new() }, plan, &marker)?;
    }
    if ownership == Ownership::Ours && matches!(state.cluster, Phase::Started { .. }) {
        printer.warn(
            "the last `up` stopped while creating the cluster: deleting the half-made cluster to create it again",
        );
        step(printer, "Deleting the half-made cluster", cluster.delete(), |_| "Deleted the half-made cluster".into())
            .await?;
    } else if ownership == Ownership::Ours {
        if let Phase::Done { digest } = &state.cluster
            && digest != &cluster_digest
        {
            bail!(
                "the cluster settings changed since the cluster was created (nodes, Kubernetes version, mounts or ports)\n  {} cannot change a cluster in place: `devflow down` then `devflow up` recreates it (its database is lost); `devflow render --only cluster` shows the new settings",
                plan.provider
            );
        }
        if containers.iter().any(|c| !c.running) {
            step(printer, "Starting the stopped cluster", cluster.start(daemon), |_| "Started the cluster".into())
                .await?;
            changed = true;
        } else {
            printer.done(&format!("Cluster {} exists (unchanged)", plan.context));
        }
        state.cluster = Phase::Done { digest: cluster_digest.clone() };
    }
    let cluster_created =
        !matches!(&state.cluster, Phase::Done { digest } if digest == &cluster_digest) || ownership != Ownership::Ours;
    if cluster_created {
        lifecycle::ui_listener(plan)?;
        state.cluster = Phase::Started { digest: cluster_digest.clone() };
        target.store.save(state)?;
        let k3d_config = target.store.path(StateFile::K3dConfig);
        let doing = format!(
            "Creating the {} cluster {} ({} node(s), Kubernetes {})",
            plan.provider,
            plan.cluster_name,
            nodes(plan),
            plan.kubernetes
        );
        let timeout = deadline.saturating_duration_since(Instant::now());
        step(printer, &doing, cluster.create(&plan.cluster, &k3d_config, timeout), |_| {
            format!("Created cluster {}", plan.context)
        })
        .await?;
        state.cluster = Phase::Done { digest: cluster_digest };
        // A new cluster holds nothing of what earlier runs applied.
        state.manifests = Phase::NotStarted;
        state.release = Phase::NotStarted;
        changed = true;
    }
    state.stopped = false;
    target.store.save(state)?;
    timings.push(("cluster", phase.elapsed()));

    let phase = Instant::now();
    let kube = kube::ApiClient::connect(&target.env, &plan.context).await?;
    lifecycle::wait_nodes(&kube, nodes(plan), deadline, printer).await?;
    timings.push(("nodes", phase.elapsed()));

    // The project's own image, when it has requirements, packages or a Dockerfile.
    let phase = Instant::now();
    let image = match &plan.image {
        Some(build) => Some(image(build, cluster, daemon, target, state, cluster_created, printer).await?),
        None => None,
    };
    changed |= image.as_ref().is_some_and(|(_, built)| *built);
    timings.push(("image", phase.elapsed()));
    Ok(Made { kube, image: image.map(|(tag, _)| tag), changed })
}

/// An existing cluster: its API answers for the context, and the namespace is absent (the
/// manifests create it) or this project's.
/// Returns the client and whether the namespace is new (so nothing of an earlier `up` is there).
async fn existing_namespace(target: &Session, printer: &mut Printer) -> Result<(kube::ApiClient, bool)> {
    let plan = &target.plan;
    lifecycle::ui_listener(plan)?;
    let kube = kube::ApiClient::connect(&target.env, &plan.context).await?;
    let doing = format!("Looking at the namespace {} in {}", plan.namespace, plan.context);
    let owner =
        step(
            printer,
            &doing,
            kube.namespace_owner(&plan.namespace, manifests::OWNER_ANNOTATION),
            |owner| match owner {
                kube::NamespaceOwner::Absent => format!("The namespace {} is free: devflow creates it", plan.namespace),
                _ => format!("The namespace {} is here", plan.namespace),
            },
        )
        .await?;
    lifecycle::check_namespace_ours(plan, &owner)?;
    Ok((kube, owner == kube::NamespaceOwner::Absent))
}

/// Builds the project's image unless the same files made the one the cluster has, streaming the
/// build's output, and loads it onto the nodes. Returns the tag and whether it was built now.
async fn image(
    build: &crate::plan::image::ImageBuild,
    cluster: &cluster::Cluster,
    daemon: &crate::docker::Daemon,
    target: &Session,
    state: &mut State,
    cluster_created: bool,
    printer: &mut Printer,
) -> Result<(String, bool)> {
    let plan = &target.plan;
    let (context, digest) = crate::docker::build_context(build).context("cannot read the image's files")?;
    let tag = format!("devflow/{}:{digest}", plan.project);
    if state.image.as_deref() == Some(tag.as_str()) && !cluster_created {
        printer.done(&format!("Image {tag} is built and loaded (unchanged)"));
        return Ok((tag, false));
    }
    let started = Instant::now();
    let labels =
        std::collections::HashMap::from([(crate::plan::cluster::OWNER_LABEL.to_string(), plan.project.clone())]);
    let mut tail: Vec<String> = Vec::new();
    let doing = format!("Building {tag}");
    let built = daemon
        .build_image(context, &tag, &labels, |line| {
            tail.push(format!("    {line}"));
            let keep = tail.len().saturating_sub(4);
            tail.drain(..keep);
            let mut lines = vec![printer.working(&doing, started)];
            lines.extend(tail.iter().cloned());
            printer.live(&lines);
        })
        .await;
    printer.live(&[]);
    built?;
    printer.done(&format!("Built {tag}  {}", ui::seconds(started.elapsed())));
    if !state.images.contains(&tag) {
        state.images.push(tag.clone());
    }
    target.store.save(state)?;
    step(printer, "Loading the image onto the nodes", cluster.load_image(&tag), |_| {
        "Loaded the image onto the nodes".into()
    })
    .await?;
    state.image = Some(tag.clone());
    target.store.save(state)?;
    Ok((tag, true))
}

/// The release runs the project's image, loaded on the nodes rather than pulled.
fn run_image(values: &mut crate::values::Value, tag: &str) {
    let (repository, reference) = tag.rsplit_once(':').expect("devflow's tags have a tag");
    let path = |key: &str| crate::values::Path::parse(key).unwrap();
    crate::values::remove(values, &path("images.airflow.digest"));
    crate::values::set(values, &path("images.airflow.repository"), repository.into());
    crate::values::set(values, &path("images.airflow.tag"), reference.into());
    crate::values::set(values, &path("images.airflow.pullPolicy"), "IfNotPresent".into());
}

fn nodes(plan: &Plan) -> usize {
    plan.cluster["nodes"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_else(|| 1 + plan.cluster["agents"].as_u64().unwrap_or(0) as usize)
}

fn summary(plan: &Plan, timings: &[(&str, Duration)], total: Duration) -> String {
    let took: Vec<String> = timings.iter().map(|(phase, d)| format!("{phase} {}", ui::seconds(*d))).collect();
    let forwarded = match plan.provider.cluster_tool() {
        Some(_) => String::new(),
        None => format!(
            "  (forwarded to {} in {}, namespace {}, while `devflow watch` or `devflow open` runs)",
            plan.components[0], plan.context, plan.namespace
        ),
    };
    let delivery = match plan.delivery {
        crate::config::Delivery::Mount => "read-only, in every Airflow pod",
        crate::config::Delivery::Push => "pushed by devflow on every save, read-only in every Airflow pod",
    };
    format!(
        "Airflow is up: {}{forwarded}\n  user      {}  (the password: `devflow creds`)\n  DAGs      {} → {} ({delivery})\n  took      {}  (total {})",
        plan.url,
        plan.admin_user,
        plan.dags_folder.display(),
        plan.dags_mount,
        took.join(" · "),
        ui::seconds(total)
    )
}
