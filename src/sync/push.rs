//! Push delivery carried out, beside its planning half (`sync`): the project's folder mirrored
//! into the receiver pod's volume through exec, as `sync` plans it. What the volume holds is
//! remembered per receiver pod; a new pod (a restart, a reschedule) is listed and filled again in
//! full.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{self as sync, Tree};
use crate::kube;
use crate::plan::{Plan, manifests, selector};
use crate::ui::{self, Printer};

/// One local folder and the receiver's folder it is mirrored to.
pub struct Pusher {
    namespace: String,
    local: PathBuf,
    remote: &'static str,
    what: &'static str,
    /// The receiver pod (its uid) that `pushed` describes.
    receiver: Option<String>,
    /// What the receiver's folder holds, as far as devflow sent it.
    pushed: Option<Tree>,
    /// The last scan of the local folder: unchanged files are not hashed again.
    scanned: Option<Tree>,
    /// Skipped paths already reported, so each is said once.
    told: Vec<String>,
}

/// What one push did.
#[derive(Debug, serde::Serialize)]
pub struct Pushed {
    pub what: &'static str,
    /// The receiver was new to devflow: its folder was listed and made equal in full.
    pub full: bool,
    pub uploaded: usize,
    pub deleted: usize,
    /// The size of the tar sent.
    pub bytes: usize,
    /// devflow's own part: scanning (hashing what changed), comparing, making the tar.
    #[serde(serialize_with = "millis")]
    pub prepared: Duration,
    /// Everything, the exec round trips included.
    #[serde(serialize_with = "millis")]
    pub took: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e4).round() / 10.0)
}

impl std::fmt::Display for Pushed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.uploaded == 0 && self.deleted == 0 {
            return write!(f, "The {} in the cluster are up to date  {}", self.what, ui::seconds(self.took));
        }
        write!(
            f,
            "Pushed the {}{}: {} file(s) sent ({}), {} deleted  {}",
            self.what,
            if self.full { " in full" } else { "" },
            self.uploaded,
            size(self.bytes),
            self.deleted,
            ui::seconds(self.took)
        )
    }
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b < 10 * 1024 => format!("{b} B"),
        b if b < 10 * 1024 * 1024 => format!("{} KiB", b / 1024),
        b => format!("{} MiB", b / (1024 * 1024)),
    }
}

impl Pusher {
    pub fn dags(plan: &Plan) -> Pusher {
        Pusher::new(plan, &plan.dags_folder, manifests::RECEIVER_DAGS, "DAGs")
    }

    pub fn plugins(plan: &Plan, plugins: &Path) -> Pusher {
        Pusher::new(plan, plugins, manifests::RECEIVER_PLUGINS, "plugins")
    }

    fn new(plan: &Plan, local: &Path, remote: &'static str, what: &'static str) -> Pusher {
        Pusher {
            namespace: plan.namespace.clone(),
            local: local.to_path_buf(),
            remote,
            what,
            receiver: None,
            pushed: None,
            scanned: None,
            told: Vec::new(),
        }
    }

    /// Makes the receiver's folder equal to the local one: only what changed since the last push
    /// to the same pod, everything (after listing it) for a pod devflow has not pushed to.
    pub async fn push(&mut self, kube: &kube::ApiClient, printer: &mut Printer) -> Result<Pushed> {
        let started = Instant::now();
        let (pod, uid) = receiver(kube, &self.namespace).await?;
        let full = self.receiver.as_deref() != Some(uid.as_str()) || self.pushed.is_none();
        let remote = match (&self.pushed, full) {
            (Some(pushed), false) => pushed.clone(),
            _ => {
                let listed = kube.exec(&self.namespace, &pod, None, &sync::list_command(self.remote), None).await?;
                if listed.code != 0 {
                    bail!(
                        "cannot list {} in the pod {pod}: {}",
                        self.remote,
                        String::from_utf8_lossy(&listed.stderr).trim()
                    );
                }
                Tree::listing(sync::parse_listing(&listed.stdout)?)
            }
        };
        let preparing = Instant::now();
        let scan = sync::scan(&self.local, self.scanned.as_ref())
            .with_context(|| format!("cannot read the {} folder {}", self.what, self.local.display()))?;
        for skipped in &scan.skipped {
            let line = format!("{}: {}", skipped.path, skipped.reason);
            if !self.told.contains(&line) {
                printer.warn(&format!("not pushed: {}/{line}", self.local.display()));
                self.told.push(line);
            }
        }
        let change = sync::diff(&remote, &scan.tree);
        let archive = match change.is_empty() {
            true => Vec::new(),
            false => sync::archive(&self.local, &scan.tree, &change.upload)?,
        };
        let prepared = preparing.elapsed();
        if !change.is_empty() {
            let commands = sync::receive_commands(self.remote, &change.delete);
            let last = commands.len() - 1;
            for (at, argv) in commands.iter().enumerate() {
                let stdin = (at == last).then_some(archive.as_slice());
                let out = kube.exec(&self.namespace, &pod, None, argv, stdin).await?;
                if out.code != 0 {
                    // What was sent is unknown now: the next push lists the folder again.
                    self.receiver = None;
                    bail!(
                        "pushing the {} into the pod {pod} failed (exit code {}): {}",
                        self.what,
                        out.code,
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
            }
        }
        self.receiver = Some(uid);
        self.pushed = Some(scan.tree.clone());
        self.scanned = Some(scan.tree);
        Ok(Pushed {
            what: self.what,
            full,
            uploaded: change.upload.len(),
            deleted: change.delete.len(),
            bytes: archive.len(),
            prepared,
            took: started.elapsed(),
        })
    }
}

/// A project's pushers: its DAG folder, and its plugins folder when it has one.
pub struct Pushers {
    pub dags: Pusher,
    pub plugins: Option<Pusher>,
}

impl Pushers {
    /// None when the folders are mounted rather than pushed.
    pub fn new(plan: &Plan, plugins: Option<&Path>) -> Option<Pushers> {
        (plan.delivery == crate::config::Delivery::Push).then(|| Pushers {
            dags: Pusher::dags(plan),
            plugins: plugins.map(|plugins| Pusher::plugins(plan, plugins)),
        })
    }

    /// Each pusher, the DAGs first.
    pub fn each(&mut self) -> impl Iterator<Item = &mut Pusher> {
        std::iter::once(&mut self.dags).chain(self.plugins.as_mut())
    }

    /// Pushes both folders under a progress line each.
    pub async fn push(&mut self, kube: &kube::ApiClient, printer: &mut Printer) -> Result<()> {
        for pusher in self.each() {
            let started = Instant::now();
            let what = pusher.what;
            let spin = printer.spin(started);
            printer.live(&[format!("{spin}Pushing the {what} into the cluster …")]);
            let pushed = pusher.push(kube, printer).await;
            printer.live(&[]);
            printer.done(&pushed?.to_string());
        }
        Ok(())
    }
}

/// The running receiver pod: its name and uid.
async fn receiver(kube: &kube::ApiClient, namespace: &str) -> Result<(String, String)> {
    let pods = kube.pods(namespace, &selector::named(manifests::RECEIVER)).await?;
    let running = pods.iter().rev().find(|pod| kube::pod_running(pod));
    match running.map(|pod| (pod.metadata.name.clone(), pod.metadata.uid.clone())) {
        Some((Some(name), Some(uid))) => Ok((name, uid)),
        _ => bail!(
            "the {} pod, which receives the pushed folders, is not running in the namespace {namespace}\n  `devflow status` shows it; `devflow up` makes it again",
            manifests::RECEIVER
        ),
    }
}
