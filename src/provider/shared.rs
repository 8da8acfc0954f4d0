//! A cluster devflow did not make (EKS, GKE, AKS, a shared dev cluster): devflow owns one namespace
//! in it, proved this project's by its ownership annotation, and reaches the UI through a
//! port-forward. Nothing else of the cluster is devflow's to make, pause or remove.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{Check, Error, Presence, Removal, bind_ui_port, confirmed, forget, nothing_made, uninstall_release};
use crate::kube::forward::{Destination, Forward};
use crate::kube::{self, ApiClient, NamespaceOwner};
use crate::plan::{manifests, selector};
use crate::session::Session;
use crate::ui::Printer;

/// The project's namespace of an existing cluster.
pub struct Namespace<'a> {
    session: &'a Session,
    kube: Option<ApiClient>,
}

impl<'a> Namespace<'a> {
    pub fn new(session: &'a Session) -> Namespace<'a> {
        Namespace { session, kube: None }
    }

    /// A client of the cluster's API, connected on first use.
    pub async fn kube(&mut self) -> Result<&ApiClient, kube::Error> {
        if self.kube.is_none() {
            self.kube = Some(ApiClient::connect(&self.session.env, &self.session.plan.context).await?);
        }
        Ok(self.kube.as_ref().expect("connected above"))
    }

    async fn owner(&mut self) -> Result<NamespaceOwner, kube::Error> {
        let namespace = self.session.plan.namespace.clone();
        self.kube().await?.namespace_owner(&namespace, manifests::OWNER_ANNOTATION).await
    }

    /// Refuses a namespace that exists without this project's annotation.
    fn refuse_foreign(&self, owner: &NamespaceOwner) -> Result<(), Error> {
        let plan = &self.session.plan;
        let why = match owner {
            NamespaceOwner::Absent => return Ok(()),
            NamespaceOwner::Annotated(o) if *o == plan.owner => return Ok(()),
            NamespaceOwner::Annotated(o) => {
                format!("its annotation {}={o} names another project or machine", manifests::OWNER_ANNOTATION)
            }
            NamespaceOwner::Unannotated => format!("it has no {} annotation", manifests::OWNER_ANNOTATION),
        };
        Err(Error::ForeignNamespace {
            namespace: plan.namespace.clone(),
            context: plan.context.clone(),
            why,
            annotation: manifests::OWNER_ANNOTATION,
            owner: plan.owner.clone(),
        })
    }

    pub fn not_for_existing(&self, what: &str) -> Error {
        let plan = &self.session.plan;
        Error::NotForExisting {
            what: what.to_string(),
            context: plan.context.clone(),
            namespace: plan.namespace.clone(),
        }
    }

    pub async fn presence(&mut self) -> Result<Presence> {
        Ok(match self.owner().await? {
            NamespaceOwner::Absent => Presence::Absent,
            NamespaceOwner::Annotated(owner) if owner == self.session.plan.owner => Presence::Running,
            _ => Presence::Foreign,
        })
    }

    /// `up`'s check: the port is free, the API answers for the context, and the namespace is absent
    /// (the manifests create it) or this project's. True when it is new, so nothing of an earlier
    /// `up` is there.
    pub async fn claim(&mut self, printer: &mut Printer) -> Result<bool> {
        let plan = &self.session.plan;
        bind_ui_port(plan)?;
        let doing = format!("Looking at the namespace {} in {}", plan.namespace, plan.context);
        let owner = printer
            .step(&doing, self.owner(), |owner| match owner {
                NamespaceOwner::Absent => format!("The namespace {} is free: devflow creates it", plan.namespace),
                _ => format!("The namespace {} is here", plan.namespace),
            })
            .await?;
        self.refuse_foreign(&owner)?;
        Ok(owner == NamespaceOwner::Absent)
    }

    pub async fn down(&mut self, removal: Removal, printer: &mut Printer) -> Result<()> {
        let session = self.session;
        let plan = &session.plan;
        let owner = self.owner().await?;
        if nothing_made(session, owner == NamespaceOwner::Absent, printer) {
            return Ok(());
        }
        self.refuse_foreign(&owner)?;
        let what = match owner {
            NamespaceOwner::Absent => "devflow's state for this project (its namespace is gone)".to_string(),
            _ => format!(
                "the Airflow release and the namespace {} of {} (its database too) and devflow's state for this project",
                plan.namespace, plan.context
            ),
        };
        if !confirmed(what, removal.yes, printer)? {
            return Ok(());
        }
        if owner != NamespaceOwner::Absent {
            uninstall_release(session, printer).await?;
            let doing = format!("Deleting the namespace {}", plan.namespace);
            printer
                .step(&doing, self.delete_namespace(), |_| {
                    format!("Deleted the namespace {} and everything in it", plan.namespace)
                })
                .await?;
        }
        forget(session, printer)
    }

    /// Deletes the namespace and waits until it is gone: an `up` into a terminating namespace fails.
    async fn delete_namespace(&mut self) -> Result<()> {
        let namespace = self.session.plan.namespace.clone();
        self.kube().await?.delete_namespace(&namespace).await?;
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.owner().await? != NamespaceOwner::Absent {
            if Instant::now() >= deadline {
                return Err(Error::StillTerminating { namespace }.into());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// 127.0.0.1:<ui_port> forwarded to the pod that serves the UI, one connection at a time.
    pub fn forward(&self, printer: &Printer) -> Result<Forward> {
        let plan = &self.session.plan;
        let listener = bind_ui_port(plan)?;
        let destination = Destination {
            context: plan.context.clone(),
            namespace: plan.namespace.clone(),
            selector: selector::component(plan.components[0]),
            port: plan.ui_pod_port(),
        };
        Forward::start(&self.session.env, destination, listener, printer.progress())
            .map_err(|e| anyhow::anyhow!("cannot set up the port-forward: {e}"))
    }

    /// The cluster answers for the context, and the namespace is free or this project's.
    pub async fn check(&mut self) -> Check {
        let plan = &self.session.plan;
        let detail = |what: &str| format!("kube context {}, namespace {}: {what}", plan.context, plan.namespace);
        match self.owner().await {
            Ok(NamespaceOwner::Absent) => Check::pass("cluster", detail("free, `devflow up` creates it")),
            Ok(owner) => match self.refuse_foreign(&owner) {
                Ok(()) => Check::pass("cluster", detail("this project's")),
                Err(e) => Check::fail(
                    "cluster",
                    true,
                    detail("someone else's"),
                    format!("{e}").lines().skip(1).map(str::trim).collect::<Vec<_>>().join("; "),
                ),
            },
            Err(e) => Check::fail(
                "cluster",
                true,
                detail(&e.to_string()),
                "check the context (`kubectl config get-contexts`), your login to the cluster, and the network".into(),
            ),
        }
    }

    pub fn describe(&self, presence: Presence) -> String {
        let (context, namespace) = (&self.session.plan.context, &self.session.plan.namespace);
        match presence {
            Presence::Running => format!("existing {context} — namespace {namespace} (this project's)"),
            Presence::Foreign => format!(
                "existing {context} — namespace {namespace} exists, but devflow did not create it for this project"
            ),
            Presence::Absent | Presence::Stopped => {
                format!("existing {context} — namespace {namespace} not created (`devflow up` creates it)")
            }
        }
    }
}
