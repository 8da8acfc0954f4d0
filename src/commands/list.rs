//! `devflow list`: every environment devflow made on this machine, from any folder.

use anyhow::{Context, Result};

use crate::cli::JsonFlag;
use crate::env::Env;
use crate::provider::survey::{self, Environment, Standing};
use crate::ui::Printer;

pub async fn run(args: &JsonFlag, env: &Env, printer: &mut Printer) -> Result<()> {
    let found = survey::environments(env).await.context("cannot read devflow's state folders")?;
    printer.set_mode(super::json_mode(args.json));
    printer.result(&found, |found| table(found))?;
    Ok(())
}

fn table(found: &[Environment]) -> String {
    if found.is_empty() {
        return "no environments: `devflow up` in a project folder makes one".to_string();
    }
    let rows: Vec<[String; 5]> = found
        .iter()
        .map(|e| {
            let folder = if e.folder.as_os_str().is_empty() { "-".to_string() } else { e.folder.display().to_string() };
            [e.project.clone(), e.provider.to_string(), e.cluster.name.clone(), e.state.as_str().to_string(), folder]
        })
        .collect();
    let header = ["PROJECT", "PROVIDER", "CLUSTER", "STATE", "FOLDER"].map(String::from);
    let widths: Vec<usize> =
        (0..4).map(|i| rows.iter().chain([&header]).map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let line = |r: &[String; 5]| {
        let cells: Vec<String> = (0..4).map(|i| format!("{:<w$}", r[i], w = widths[i])).collect();
        format!("{}  {}", cells.join("  "), r[4])
    };
    let mut text: Vec<String> = std::iter::once(&header).chain(&rows).map(line).collect();
    for e in found.iter().filter(|e| e.reason.is_some()) {
        text.push(format!("  {}: {}", e.project, e.reason.as_deref().unwrap_or_default()));
    }
    if found.iter().any(|e| e.state == Standing::Orphaned && e.state_folder.is_some()) {
        text.push("`devflow down --project NAME` (or `--path FOLDER`) removes an orphaned environment".to_string());
    }
    text.join("\n")
}
