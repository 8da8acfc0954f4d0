//! `devflow render`: the plan as the files and commands `up` will use.

use anyhow::{Context, Result};

use crate::cli::{RenderArgs, RenderPart};
use crate::config::Delivery;
use crate::env::Env;
use crate::plan::{Change, ClusterRef, Plan};
use crate::ui::Printer;
use crate::values::{self, Value};

pub fn run(args: &RenderArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let project = crate::session::resolve(env, &args.project.settings(&args.set), printer)?;
    let plan = crate::plan::build(&project)?;
    if !plan.stand_in_missing.is_empty() {
        printer.note(&format!(
            "`devflow up` needs these values in {} (git-ignored, mode 0600; `up` writes the file for you): {}",
            crate::plan::standins::FILE,
            plan.stand_in_missing.join(", ")
        ));
    }

    let text = match (args.explain, args.only, args.json) {
        (true, _, false) => explain_text(&plan, &env.cwd),
        (true, _, true) => json(&serde_json::json!({
            "project": plan.project,
            "production_files": plan.production_files,
            "parity": plan.parity,
            "fenced": plan.fenced
        })),
        (false, Some(part), true) => json(&part_value(&plan, part)),
        (false, Some(part), false) => part_text(&plan, part),
        (false, None, true) => json(&Rendered::of(&plan)),
        (false, None, false) => everything(&plan),
    };
    printer.out(&text).context("cannot write to standard output")?;
    Ok(())
}

/// `render --json`: the plan in the vocabulary of every command's JSON, the cluster an object
/// and each component one as `status` shows it (nothing is running yet, so its counts are null).
#[derive(serde::Serialize)]
struct Rendered<'a> {
    cluster: ClusterRef,
    components: Vec<Planned>,
    #[serde(flatten)]
    plan: &'a Plan,
}

#[derive(serde::Serialize)]
struct Planned {
    name: &'static str,
    ready: Option<usize>,
    restarts: Option<i32>,
    age: Option<i64>,
}

impl Rendered<'_> {
    fn of(plan: &Plan) -> Rendered<'_> {
        let planned = |name| Planned { name, ready: None, restarts: None, age: None };
        Rendered {
            cluster: plan.cluster_ref(),
            components: plan.components.iter().copied().map(planned).collect(),
            plan,
        }
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("the plan serialises as JSON")
}

fn part_value(plan: &Plan, part: RenderPart) -> Value {
    match part {
        RenderPart::Cluster => plan.cluster.clone(),
        RenderPart::Values => plan.shown_values(),
        RenderPart::Manifests => Value::Array(plan.manifests.clone()),
        RenderPart::Plan => serde_json::to_value(&plan.steps).expect("steps serialise"),
    }
}

fn part_text(plan: &Plan, part: RenderPart) -> String {
    match part {
        RenderPart::Cluster => values::to_yaml(&plan.cluster),
        RenderPart::Values => values::to_yaml(&plan.shown_values()),
        RenderPart::Manifests => plan.manifests.iter().map(|m| format!("---\n{}", values::to_yaml(m))).collect(),
        RenderPart::Plan => plan.steps_text(),
    }
}

/// All four parts as one YAML stream, each introduced by a comment that says what it is for.
fn everything(plan: &Plan) -> String {
    let mut out = format!(
        "# devflow render: project `{}` on {} (Kubernetes {}), profile `{}`, chart {}, Airflow {} ({})\n# UI {}  ·  DAGs {} read-only at {}\n",
        plan.project,
        plan.provider,
        plan.kubernetes,
        plan.profile,
        plan.chart_version,
        plan.airflow_version,
        plan.executor,
        plan.url,
        match plan.delivery {
            Delivery::Mount => "mounted",
            Delivery::Push => "pushed by devflow and mounted",
        },
        plan.dags_mount
    );
    out.push_str(&plan.cluster_part());
    out.push_str(&format!(
        "\n# ── values: for `helm upgrade --install` (secrets show as <generated> or <redacted>; `--explain` says why each differs from production) ──\n---\n{}",
        values::to_yaml(&plan.shown_values())
    ));
    out.push_str("\n# ── manifests: applied by devflow before the chart ──\n");
    out.push_str(&part_text(plan, RenderPart::Manifests));
    out.push_str("\n# ── plan: the steps of `devflow up` ──\n");
    for line in plan.steps_text().lines() {
        out.push_str(&format!("# {line}\n"));
    }
    out
}

/// The parity report as a table: key, production value, laptop value, why.
fn explain_text(plan: &Plan, cwd: &std::path::Path) -> String {
    let files: Vec<String> =
        plan.production_files.iter().map(|f| f.strip_prefix(cwd).unwrap_or(f).display().to_string()).collect();
    let mut out = if files.is_empty() {
        format!(
            "Parity report: no production values given (--values FILE), so devflow's laptop values are compared with the chart's defaults.\nLaptop: {} (Kubernetes {}), profile `{}`, Airflow {} ({}).\n",
            plan.provider, plan.kubernetes, plan.profile, plan.airflow_version, plan.executor
        )
    } else {
        format!(
            "Parity report: {} → laptop ({} (Kubernetes {}), profile `{}`, Airflow {}, {}).\nEvery key below differs from production; every other production value is kept as it is.\n",
            files.join(" + "),
            plan.provider,
            plan.kubernetes,
            plan.profile,
            plan.airflow_version,
            plan.executor
        )
    };
    let cell =
        |value: &Option<Value>, none: &str| value.as_ref().map_or_else(|| none.to_string(), |v| values::brief(v, 30));
    let rows: Vec<[String; 4]> = plan
        .parity
        .iter()
        .map(|Change { key, production, laptop, reason }| {
            [key.clone(), cell(production, "(chart default)"), cell(laptop, "(removed)"), reason.clone()]
        })
        .collect();
    let header = ["KEY".to_string(), "PRODUCTION".to_string(), "LAPTOP".to_string(), "WHY".to_string()];
    let widths: Vec<usize> =
        (0..3).map(|i| rows.iter().chain([&header]).map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    out.push('\n');
    for row in std::iter::once(&header).chain(&rows) {
        out.push_str(&format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
    out.push_str(&format!("\n{} keys differ.\n", rows.len()));
    let fenced = plan.fenced.len();
    let listed = if fenced == 0 { String::new() } else { format!(": {}", plan.fenced.join(", ")) };
    out.push_str(&format!("{fenced} production endpoint{} fenced off{listed}\n", if fenced == 1 { "" } else { "s" }));
    out.push_str(&admin_password_note(plan));
    out
}

/// Where the admin password can be read: the chart's create-user job passes it as a literal `-p`
/// argument (`templates/jobs/create-user-job.yaml`), so anyone who can read Jobs in the namespace
/// sees it.
fn admin_password_note(plan: &Plan) -> String {
    if plan.provider.makes_cluster() {
        format!(
            "Note: the chart's create-user job carries the admin password as a literal `-p` argument in its Job spec: visible to whoever can read Jobs in namespace {} of this laptop's cluster (only you); `devflow creds` prints it.\n",
            plan.namespace
        )
    } else {
        format!(
            "Note: on this shared cluster the chart's create-user job would carry the admin password as a literal `-p` argument, readable by anyone who can read Jobs in namespace {}: devflow turns it off and creates the admin user itself through exec, the password on standard input.\n",
            plan.namespace
        )
    }
}
