//! `up` carried out: the plan's steps run one after the other, the same list `up --dry-run`
//! prints. Each step looks at the world first and does only what differs from what the state
//! folder says was made; a guarded phase (the cluster, devflow's objects, the release) is recorded
//! as started before its work and done after it, so that an interrupted `up` is carried on by the
//! next.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::config::{Delivery, Flags, Provider, StateFile};
use crate::docker;
use crate::env::Env;
use crate::helm::{self, Helm};
use crate::kube::{self, ApiClient};
use crate::plan::Step;
use crate::plan::command::Command;
use crate::plan::{self, Plan, selector};
use crate::provider::{self, Backend, nodes::Standing};
use crate::session::{Follow, Session};
use crate::state::{self, Guarded, Phase, Secrets, State};
use crate::sync::push::Pushers;
use crate::tool::{self, Tool};
use crate::ui::{self, Printer};
use crate::values::{self, Value};

/// How `up` was asked to run: what the watch keeps to run it again the same way.
#[derive(Debug, Clone)]
pub struct Options {
    pub flags: Flags,
    /// Install missing tools without asking.
    pub yes: bool,
    /// How long `up` may wait for the cluster and Airflow.
    pub timeout: Duration,
}

impl Options {
    /// `up` as `devflow watch` runs it when the project's files change: devflow.toml's settings,
    /// no questions, `up`'s default timeout.
    pub fn from_project_files() -> Options {
        Options { flags: Flags::default(), yes: false, timeout: Duration::from_secs(15 * 60) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "this project's cluster was made with {previous}, and devflow.toml or --provider now asks for {now}\n  run `devflow down` first to remove the {previous} cluster, then `devflow up`"
    )]
    ProviderChanged { previous: Provider, now: Provider },
}

crate::error::one_kind!(Error, Environment);

/// `up` again from the project's files as they are now (the watch, when they change).
pub async fn up(env: &Env, options: &Options, printer: &mut Printer) -> Result<()> {
    let session = Session::open(env, &options.flags, Follow::Settings, printer)?;
    run(&session, options, printer).await?;
    Ok(())
}

/// Runs the session's plan, step by step. Returns the pushers that filled the cluster (push
/// delivery): they know what it holds.
pub async fn run(session: &Session, options: &Options, printer: &mut Printer) -> Result<Option<Pushers>> {
    let mut run = Run::new(session, options)?;
    for step in &session.plan.steps {
        let started = Instant::now();
        run.step(step, printer).await?;
        run.time(step, started.elapsed());
    }
    Ok(run.pushers)
}

/// One run of the plan: what it has found, made and timed so far.
struct Run<'a> {
    session: &'a Session,
    plan: &'a Plan,
    options: &'a Options,
    backend: Backend<'a>,
    state: State,
    started: Instant,
    deadline: Instant,
    timings: Vec<(&'static str, Duration)>,
    /// Something was made or changed.
    changed: bool,
    helm: Option<Helm>,
    kube: Option<ApiClient>,
    secrets: Option<Secrets>,
    /// The cluster was made now: it holds nothing of what earlier runs applied.
    cluster_created: bool,
    /// When `up` started the stopped cluster: pod statuses from before are stale.
    resumed_at: Option<std::time::SystemTime>,
    /// The tag of the project's image, and whether it is on the nodes already.
    image: Option<(String, bool)>,
    /// The release is installed with these values: nothing to write, nothing to upgrade.
    release_current: bool,
    pushers: Option<Pushers>,
}

impl<'a> Run<'a> {
    fn new(session: &'a Session, options: &'a Options) -> Result<Run<'a>> {
        let plan = &session.plan;
        let state = match session.state.clone() {
            Some(state) => {
                if let Some(previous) = state.provider.filter(|p| *p != plan.provider && state.cluster.was_touched()) {
                    return Err(Error::ProviderChanged { previous, now: plan.provider }.into());
                }
                state
            }
            None => State {
                project_root: session.project.root.clone(),
                provider: Some(plan.provider),
                cluster_name: plan.cluster_name.clone(),
                context: plan.context.clone(),
                ..State::default()
            },
        };
        let started = Instant::now();
        Ok(Run {
            session,
            plan,
            options,
            backend: Backend::of(session),
            state,
            started,
            deadline: started + options.timeout,
            timings: Vec::new(),
            changed: false,
            helm: None,
            kube: None,
            secrets: None,
            cluster_created: false,
            resumed_at: None,
            image: None,
            release_current: false,
            pushers: None,
        })
    }

    async fn step(&mut self, step: &Step, printer: &mut Printer) -> Result<()> {
        match step {
            Step::Preflight(_) => self.preflight(printer).await,
            Step::CheckNamespace { .. } => self.check_namespace(printer).await,
            Step::WriteClusterConfig { .. } => {
                let config = values::to_yaml(&self.plan.cluster);
                Ok(self.session.store.write(StateFile::K3dConfig, config.as_bytes(), 0o600)?)
            }
            Step::CreateCluster(create) => self.cluster(create, printer).await,
            Step::WaitNodes { count, .. } => {
                let deadline = self.deadline;
                Ok(kube::wait::nodes(self.kube().await?, *count, deadline, printer).await?)
            }
            Step::BuildImage { project, build } => self.build_image(project, build, printer).await,
            Step::LoadImage(load) => self.load_image(load, printer).await,
            Step::LoadLocalImage(load) => {
                let nodes = self.backend.nodes("load the image")?;
                let image = self.plan.private_image.clone().unwrap_or_default();
                printer
                    .step(
                        &format!("Loading {image} from this machine's Docker onto the nodes"),
                        nodes.load_image(load),
                        |_| format!("Loaded {image} onto the nodes (it is private: the nodes cannot pull it)"),
                    )
                    .await?;
                Ok(())
            }
            Step::ApplyManifests { .. } => self.apply_manifests(printer).await,
            Step::WriteValues { .. } => self.write_values(printer).await,
            Step::InstallRelease(install) => self.install_release(install, printer).await,
            Step::WaitAirflow { expect, .. } => {
                let (namespace, deadline, resumed) = (&self.plan.namespace, self.deadline, self.resumed_at);
                let kube = self.kube().await?;
                match resumed {
                    // The API serves the pods' status from before the stop until the kubelet
                    // restarts them.
                    Some(since) => {
                        kube::wait::workloads_restarted(kube, namespace, expect, deadline, since, printer).await?
                    }
                    None => kube::wait::workloads(kube, namespace, expect, deadline, printer).await?,
                };
                Ok(())
            }
            Step::PushDags { .. } => self.push(printer).await,
            Step::CreateAdmin { user, component } => self.create_admin(user, component, printer).await,
            // The watch that follows `up` holds the forward.
            Step::PortForward { .. } => Ok(()),
            Step::Ready { .. } => self.ready(printer),
        }
    }

    /// Adds a step's time to its phase of the summary (`preflight 0.4s · cluster 31s · …`).
    fn time(&mut self, step: &Step, took: Duration) {
        let phase = match step {
            Step::Preflight(_) | Step::WriteClusterConfig { .. } => "preflight",
            Step::CheckNamespace { .. } => "namespace",
            Step::CreateCluster(_) => "cluster",
            Step::WaitNodes { .. } => "nodes",
            Step::BuildImage { .. } | Step::LoadImage(_) | Step::LoadLocalImage(_) => "image",
            Step::ApplyManifests { .. } => "objects",
            Step::WriteValues { .. } | Step::InstallRelease(_) => "helm",
            Step::WaitAirflow { .. } | Step::CreateAdmin { .. } => "airflow",
            Step::PushDags { .. } => "push",
            Step::PortForward { .. } | Step::Ready { .. } => return,
        };
        match self.timings.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, total)) => *total += took,
            None => self.timings.push((phase, took)),
        }
    }

    fn save(&self) -> Result<()> {
        Ok(self.session.store.save(&self.state)?)
    }

    /// A guarded phase starts: recorded, with the digest of what it makes, before its work.
    fn begin(&mut self, phase: Guarded, digest: String) -> Result<()> {
        *self.state.phase_mut(phase) = Phase::Started { digest };
        self.save()
    }

    /// A guarded phase is done: recorded after its work.
    fn finish(&mut self, phase: Guarded) -> Result<()> {
        let recorded = self.state.phase_mut(phase);
        if let Phase::Started { digest } = recorded {
            *recorded = Phase::Done { digest: std::mem::take(digest) };
        }
        self.changed = true;
        self.save()
    }

    async fn kube(&mut self) -> Result<&ApiClient> {
        if self.kube.is_none() {
            self.kube = Some(ApiClient::connect(&self.session.env, &self.plan.context).await?);
        }
        Ok(self.kube.as_ref().expect("connected above"))
    }

    fn secrets(&mut self) -> Result<&Secrets> {
        if self.secrets.is_none() {
            self.secrets = Some(self.session.store.secrets(self.plan)?);
        }
        Ok(self.secrets.as_ref().expect("read above"))
    }

    /// Where the cluster runs (Docker and its tool, for a cluster devflow makes), and helm.
    async fn preflight(&mut self, printer: &mut Printer) -> Result<()> {
        let yes = self.options.yes;
        self.backend.preflight(yes, printer).await?;
        if let Some(image) = &self.plan.private_image {
            let daemon = self.backend.nodes("find the image")?.daemon().await?;
            if !daemon.has_image(image).await? {
                return Err(plan::Error::Input { message: plan::image::cannot_pull(image) }.into());
            }
        }
        let helm = tool::ensure(Tool::Helm, yes, &self.session.env, printer).await?;
        Tool::Helm.require_minimum(&helm).await?;
        self.helm = Some(Helm { tool: helm });
        Ok(())
    }

    /// An existing cluster's namespace: a new one holds nothing of what earlier runs applied.
    async fn check_namespace(&mut self, printer: &mut Printer) -> Result<()> {
        if self.backend.shared("check the namespace")?.claim(printer).await? {
            self.state.manifests = Phase::NotStarted;
            self.state.release = Phase::NotStarted;
        }
        Ok(())
    }

    /// The cluster: made unless this project's exists with the same settings (resumed when it is
    /// stopped).
    async fn cluster(&mut self, create: &Command, printer: &mut Printer) -> Result<()> {
        let plan = self.plan;
        let digest = state::digest(&plan.cluster);
        let standing =
            self.backend.nodes("create the cluster")?.standing(&self.state.cluster, &digest, printer).await?;
        match standing {
            Standing::Current { stopped } => {
                if stopped {
                    self.resumed_at = Some(std::time::SystemTime::now());
                    let nodes = self.backend.nodes("start the cluster")?;
                    printer
                        .step("Starting the stopped cluster", nodes.start(), |_| "Started the cluster".into())
                        .await?;
                    self.changed = true;
                } else {
                    printer.done(&format!("Cluster {} exists (unchanged)", plan.context));
                }
                self.state.cluster = Phase::Done { digest };
            }
            Standing::Missing => {
                provider::bind_ui_port(plan)?;
                self.begin(Guarded::Cluster, digest)?;
                let doing = format!(
                    "Creating the {} cluster {} ({} node(s), Kubernetes {})",
                    plan.provider,
                    plan.cluster_name,
                    plan.nodes(),
                    plan.kubernetes
                );
                let timeout = self.deadline.saturating_duration_since(Instant::now());
                let nodes = self.backend.nodes("create the cluster")?;
                let context = &plan.context;
                printer
                    .step(&doing, nodes.create(create, timeout), |users| match users {
                        Some(theirs) => format!(
                            "Created cluster {context}; your kube context stays {theirs}: `kubectl --context {context}` reaches this one"
                        ),
                        None => format!("Created cluster {context} (`kubectl --context {context}` reaches it)"),
                    })
                    .await?;
                // A new cluster holds nothing of what earlier runs applied.
                self.state.manifests = Phase::NotStarted;
                self.state.release = Phase::NotStarted;
                self.finish(Guarded::Cluster)?;
                self.cluster_created = true;
            }
        }
        self.state.stopped = false;
        self.save()
    }

    /// Builds the project's image unless the same files made the one the cluster has, streaming
    /// the build's output.
    async fn build_image(
        &mut self,
        project: &str,
        build: &plan::image::ImageBuild,
        printer: &mut Printer,
    ) -> Result<()> {
        let (context, digest) = docker::build_context(build).context("cannot read the image's files")?;
        let tag = format!("devflow/{project}:{digest}");
        if self.state.image.as_deref() == Some(tag.as_str()) && !self.cluster_created {
            printer.done(&format!("Image {tag} is built and loaded (unchanged)"));
            self.image = Some((tag, true));
            return Ok(());
        }
        let started = Instant::now();
        let labels = std::collections::HashMap::from([(plan::cluster::OWNER_LABEL.to_string(), project.to_string())]);
        let doing = format!("Building {tag}");
        let mut tail: Vec<String> = Vec::new();
        let daemon = self.backend.nodes("build the image")?.daemon().await?;
        let built = daemon
            .build_image(context, &tag, &labels, |line| {
                tail.push(format!("    {line}"));
                tail.drain(..tail.len().saturating_sub(4));
                let mut lines = vec![printer.working(&doing, started)];
                lines.extend(tail.iter().cloned());
                printer.live(&lines);
            })
            .await;
        printer.live(&[]);
        built?;
        printer.done(&format!("Built {tag}  {}", ui::seconds(started.elapsed())));
        if !self.state.images.contains(&tag) {
            self.state.images.push(tag.clone());
        }
        self.save()?;
        self.changed = true;
        self.image = Some((tag, false));
        Ok(())
    }

    /// Loads the built image onto the nodes, unless they have it.
    async fn load_image(&mut self, load: &Command, printer: &mut Printer) -> Result<()> {
        let Some((tag, false)) = self.image.clone() else { return Ok(()) };
        let nodes = self.backend.nodes("load the image")?;
        printer
            .step("Loading the image onto the nodes", nodes.load_image(&load.with_image(&tag)), |_| {
                "Loaded the image onto the nodes".into()
            })
            .await?;
        self.state.image = Some(tag.clone());
        self.image = Some((tag, true));
        self.save()
    }

    /// devflow's own objects: namespace, PostgreSQL, the DAG volume.
    async fn apply_manifests(&mut self, printer: &mut Printer) -> Result<()> {
        let plan = self.plan;
        let objects = self.secrets()?.fill_manifests(plan);
        let digest = state::digest(&self.plan.manifests);
        // A namespace being deleted refuses new objects until it is gone: wait for it, then make
        // everything again (what was applied before goes with it).
        let kube = self.kube().await?.clone();
        let terminating = kube.namespace_terminating(&plan.namespace).await?;
        if terminating {
            let doing = format!("Waiting for the namespace {} to finish terminating (it was deleted)", plan.namespace);
            let gone = kube.namespace_gone(&plan.namespace, kube::NAMESPACE_GONE_WITHIN);
            printer
                .step(&doing, gone, |_| format!("The namespace {} is gone: devflow makes it again", plan.namespace))
                .await?;
        }
        if !terminating && self.state.manifests.is_done_with(&digest) {
            printer.done("devflow's objects are applied (unchanged)");
            return Ok(());
        }
        self.begin(Guarded::Manifests, digest)?;
        printer
            .step("Applying devflow's objects", self.kube().await?.apply(&objects), |_| {
                format!("Applied {} objects (namespace, PostgreSQL, DAG volume)", objects.len())
            })
            .await?;
        self.finish(Guarded::Manifests)
    }

    /// The release phase begins: unless the release is deployed with these values, its values
    /// file is written (with the secrets, 0600) for the Helm upgrade that follows.
    async fn write_values(&mut self, printer: &mut Printer) -> Result<()> {
        let plan = self.plan;
        let image = self.image.as_ref().map(|(tag, _)| tag.clone());
        let digest = state::digest(&(&plan.values, &plan.chart, &plan.chart_version, &image));
        let deployed = self.recover_pending(printer).await?.filter(|r| r.status == "deployed");
        if let Some(release) = &deployed
            && release.chart_version.as_deref() == Some(plan.chart_version.as_str())
            && self.state.release.is_done_with(&digest)
        {
            printer.done(&format!("Airflow release is installed (unchanged, revision {})", release.revision));
            self.release_current = true;
            return Ok(());
        }
        self.begin(Guarded::Release, digest)?;
        // A Job's pod template cannot change, and without Helm hooks the chart's migration and
        // create-user jobs live on for their TTL: Helm would fail with "field is immutable".
        // Whatever the release's status (a failed or interrupted upgrade leaves its jobs too),
        // they go before every upgrade; Helm creates them again and they run once more.
        let jobs = selector::components(&[plan::MIGRATIONS_JOB, plan::CREATE_USER_JOB]);
        self.kube().await?.delete_jobs(&plan.namespace, &jobs).await?;
        let mut values = self.secrets()?.fill_values(plan);
        if let Some(tag) = &image {
            run_image(&mut values, tag);
        }
        self.session.store.write(StateFile::Values, values::to_yaml(&values).as_bytes(), 0o600)?;
        Ok(())
    }

    /// `helm upgrade --install` with the values file: devflow waits for the pods itself, so that
    /// a failing pod is reported at once with its reason.
    async fn install_release(&mut self, install: &Command, printer: &mut Printer) -> Result<()> {
        if self.release_current {
            return Ok(());
        }
        let plan = self.plan;
        let timeout = self.deadline.saturating_duration_since(Instant::now());
        let helm = self.helm.as_ref().expect("preflight found helm");
        let doing = format!("Installing the Airflow chart {} (helm upgrade --install)", plan.chart_version);
        printer
            .step(&doing, helm.run(install, timeout), |_| {
                format!(
                    "Installed the Airflow chart {} (Airflow {}, {})",
                    plan.chart_version, plan.airflow_version, plan.executor
                )
            })
            .await?;
        self.finish(Guarded::Release)
    }

    /// The release as Helm has it, after recovering one that devflow's last `up` left pending (a
    /// Helm killed with SIGKILL mid-operation): a first install is uninstalled, an upgrade rolled
    /// back to the revision before it, so that the upgrade that follows is not refused. A pending
    /// release devflow did not leave so is another operation's: devflow stops and says so.
    async fn recover_pending(&mut self, printer: &mut Printer) -> Result<Option<helm::Release>> {
        let plan = self.plan;
        let helm = self.helm.as_ref().expect("preflight found helm");
        let release = helm.status(plan).await?;
        let Some(pending) = release.as_ref().filter(|r| r.pending()) else { return Ok(release) };
        if !matches!(self.state.release, Phase::Started { .. }) {
            anyhow::bail!(
                "the Airflow release is {} (revision {}): another Helm operation is running on it, or one was killed\n  wait for it to end; if none runs, `helm rollback {} --namespace {} --kube-context {}` (or `helm uninstall` a first install), then `devflow up`",
                pending.status,
                pending.revision,
                plan::RELEASE,
                plan.namespace,
                plan.context
            );
        }
        if pending.status == "pending-install" || pending.revision <= 1 {
            printer.warn(&format!(
                "the last `up` stopped while Helm installed Airflow (the release is {}): uninstalling it to install again",
                pending.status
            ));
            let work = helm.uninstall(plan);
            printer
                .step("Uninstalling the half-made release", work, |_| "Uninstalled the half-made release".into())
                .await?;
            return Ok(None);
        }
        let back = pending.revision - 1;
        printer.warn(&format!(
            "the last `up` stopped while Helm upgraded Airflow (revision {} is {}): rolling back to revision {back}",
            pending.revision, pending.status
        ));
        let doing = format!("Rolling back the release to revision {back}");
        printer.step(&doing, helm.rollback(plan, back), |_| format!("Rolled back to revision {back}")).await?;
        Ok(helm.status(plan).await?)
    }

    async fn push(&mut self, printer: &mut Printer) -> Result<()> {
        let mut pushers = Pushers::new(self.plan, self.session.project.plugins.as_deref());
        if let Some(pushers) = pushers.as_mut() {
            pushers.push(self.kube().await?, printer).await?;
        }
        self.pushers = pushers;
        Ok(())
    }

    /// The admin user of a shared cluster, made through exec with the password on standard input
    /// (twice: `getpass` asks again to confirm).
    async fn create_admin(&mut self, user: &str, component: &str, printer: &mut Printer) -> Result<()> {
        let password = self.secrets()?.admin_password().context("the admin password is not in devflow's state")?;
        let stdin = format!("{password}\n{password}\n");
        let (namespace, argv) = (&self.plan.namespace, self.plan.create_admin_argv());
        let (selector, container) = self.plan.component(component)?;
        let kube = self.kube().await?;
        let Some((pod, container)) = kube.running_pod(namespace, &selector, container).await? else {
            anyhow::bail!(
                "no pod of {component} is running in the namespace {namespace}: cannot create the admin user"
            );
        };
        let doing = format!("Creating the admin user `{user}` (pod {pod})");
        let exec = kube.exec(namespace, &pod, container.as_deref(), &argv, Some(stdin.as_bytes()));
        let out = printer.step(&doing, exec, |_| format!("The admin user `{user}` exists")).await?;
        if out.code != 0 {
            let said = String::from_utf8_lossy(&out.stderr);
            let last: Vec<&str> = said.trim().lines().rev().take(4).collect();
            anyhow::bail!(
                "`{}` in the pod {pod} failed (exit code {}):\n    {}",
                argv.join(" "),
                out.code,
                last.into_iter().rev().collect::<Vec<_>>().join("\n    ")
            );
        }
        Ok(())
    }

    fn ready(&self, printer: &mut Printer) -> Result<()> {
        if !self.changed {
            printer.note("nothing changed: no cluster was created and no Helm upgrade ran");
        }
        let total = self.started.elapsed();
        if printer.mode() == ui::Mode::Json {
            let ready = Ready::of(self.plan, self.changed, &self.timings, total);
            return printer.line(&ready).context("cannot write to standard output");
        }
        let summary = summary(self.plan, &self.timings, total);
        printer.out(&summary).context("cannot write to standard output")
    }
}

/// `up --json`'s result, the first line on standard output (the watch's reports follow).
#[derive(serde::Serialize)]
struct Ready<'a> {
    event: &'static str,
    project: &'a str,
    cluster: plan::ClusterRef,
    namespace: &'a str,
    url: &'a str,
    user: &'a str,
    delivery: Delivery,
    dags_folder: &'a std::path::Path,
    dags_mount: &'a str,
    /// Whether anything was created or upgraded (false: a second `up` found it all as it is).
    changed: bool,
    /// Seconds each phase took, and all of them.
    timings: std::collections::BTreeMap<&'static str, f64>,
    seconds: f64,
}

impl<'a> Ready<'a> {
    fn of(plan: &'a Plan, changed: bool, timings: &[(&'static str, Duration)], total: Duration) -> Ready<'a> {
        let tenths = |d: Duration| (d.as_secs_f64() * 10.0).round() / 10.0;
        Ready {
            event: "ready",
            project: &plan.project,
            cluster: plan.cluster_ref(),
            namespace: &plan.namespace,
            url: &plan.url,
            user: plan.admin_user,
            delivery: plan.delivery,
            dags_folder: &plan.dags_folder,
            dags_mount: &plan.dags_mount,
            changed,
            timings: timings.iter().map(|(phase, d)| (*phase, tenths(*d))).collect(),
            seconds: tenths(total),
        }
    }
}

/// The release runs the project's image, loaded on the nodes rather than pulled.
fn run_image(values: &mut Value, tag: &str) {
    let (repository, reference) = tag.rsplit_once(':').expect("devflow's tags have a tag");
    let path = |key: &str| values::Path::parse(key).expect("devflow's own keys are dotted paths");
    values::remove(values, &path("images.airflow.digest"));
    values::set(values, &path("images.airflow.repository"), repository.into());
    values::set(values, &path("images.airflow.tag"), reference.into());
    values::set(values, &path("images.airflow.pullPolicy"), "IfNotPresent".into());
}

fn summary(plan: &Plan, timings: &[(&str, Duration)], total: Duration) -> String {
    let took: Vec<String> = timings.iter().map(|(phase, d)| format!("{phase} {}", ui::seconds(*d))).collect();
    let forwarded = match plan.ui_forwarded() {
        false => String::new(),
        true => format!(
            "  (forwarded to {} in {}, namespace {}, while `devflow watch` or `devflow open` runs)",
            plan.components[0], plan.context, plan.namespace
        ),
    };
    let delivery = match plan.delivery {
        Delivery::Mount => "read-only, in every Airflow pod",
        Delivery::Push => "pushed by devflow on every save, read-only in every Airflow pod",
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
