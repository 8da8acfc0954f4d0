//! The `--json` side of the [`Printer`]: the contract `schemas/devflow-output.schema.json`
//! writes down. Standard output carries the command's result (one document, or one object a line
//! for a stream); standard error carries one JSON object a line: the progress events (`started`,
//! `progress`, `done`, `failed`, `note`, `warning`, and with `--verbose` `command`) and, when the command fails, one `error` object. Every
//! string goes through the printer's secrets before it is written.

use std::future::Future;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::{Mode, Printer, feed};
use crate::error::ErrorKind;

impl Printer {
    /// One progress event on standard error, in [`Mode::Json`].
    pub(super) fn event(&mut self, event: &str, message: &str) {
        self.err_json(&json!({"event": event, "message": self.secrets.hide(message)}));
    }

    /// [`Printer::step`] in [`Mode::Json`]: `started` when the work begins, then `done` with its
    /// result or `failed` (the error follows as the command's `error` object), each with the step
    /// and the seconds it took.
    pub(super) async fn json_step<T, E>(
        &mut self,
        doing: &str,
        work: impl Future<Output = Result<T, E>>,
        done: impl FnOnce(&T) -> String,
    ) -> Result<T, E> {
        let started = Instant::now();
        let step = self.secrets.hide(doing);
        self.err_json(&json!({"event": "started", "step": step}));
        // Lines from a program run before this step are not this step's.
        feed().lines.clear();
        tokio::pin!(work);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = tick.tick() => self.json_progress(&step),
            }
        };
        self.json_progress(&step);
        let seconds = tenths(started.elapsed());
        let event = match &result {
            Ok(value) => {
                json!({"event": "done", "step": step, "message": self.secrets.hide(&done(value)), "seconds": seconds})
            }
            Err(_) => json!({"event": "failed", "step": step, "seconds": seconds}),
        };
        self.err_json(&event);
        result
    }

    /// What the step's program said since the last time, a `progress` event a line, then the
    /// records of the programs that ended (`--verbose`: `command` events).
    fn json_progress(&mut self, step: &str) {
        let lines = std::mem::take(&mut feed().lines);
        for line in lines {
            self.err_json(&json!({"event": "progress", "step": step, "message": line}));
        }
        self.show_records();
    }

    /// One object of a streamed result (a log line, a watch report) on its own line of standard
    /// output, its strings' secrets hidden.
    pub fn line(&mut self, value: &impl Serialize) -> io::Result<()> {
        let value = serde_json::to_value(value).map_err(io::Error::other)?;
        let text = serde_json::to_string(&self.hidden(value)).map_err(io::Error::other)?;
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// A result only a script needs (`stop`, `down`): the text said it already, line by line.
    pub fn json_result(&mut self, value: &impl Serialize) -> io::Result<()> {
        if self.mode != Mode::Json {
            return Ok(());
        }
        self.result(value, |_| String::new())
    }

    /// The one message of a failed command: in [`Mode::Json`] an `error` object on standard
    /// error (the error's first line, its kind, the hint its further lines give, and each cause),
    /// else the text of [`Printer::error`].
    pub fn failure(&mut self, error: &anyhow::Error, kind: ErrorKind) {
        if self.mode != Mode::Json {
            return self.error(error);
        }
        let object = error_object(error, kind);
        self.err_json(&object);
    }

    pub(super) fn err_json(&mut self, value: &Value) {
        let hidden = self.hidden(value.clone());
        let _ = writeln!(self.err, "{hidden}");
        let _ = self.err.flush();
    }

    /// Every string in the value with the secrets hidden (a secret inside a JSON string is
    /// searched for before it is escaped).
    fn hidden(&self, value: Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.secrets.hide(&text)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.hidden(v)).collect()),
            Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, self.hidden(v))).collect()),
            other => other,
        }
    }
}

/// A command line clap refused. With `--json` anywhere in it: the contract's `error` object
/// (an input error, exit 2); otherwise clap's own message and exit code, help and version too.
pub fn refused_command_line(error: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind as Refusal;
    let shown = matches!(
        error.kind(),
        Refusal::DisplayHelp | Refusal::DisplayVersion | Refusal::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shown || !std::env::args_os().any(|arg| arg == "--json") {
        error.exit()
    }
    let text = error.render().to_string();
    let object = error_object(&anyhow::Error::msg(text.trim_start_matches("error: ").to_string()), ErrorKind::Input);
    let _ = writeln!(io::stderr(), "{object}");
    std::process::ExitCode::from(ErrorKind::Input.exit_code())
}

/// The name of a kind in the contract.
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Input => "input",
        ErrorKind::Environment => "environment",
        ErrorKind::Bug => "bug",
        ErrorKind::Interrupted => "interrupted",
    }
}

/// devflow's messages say what went wrong on their first line and how to fix it on the lines
/// under it: the first lines become `error` and `causes`, the lines under them the `hint`.
fn error_object(error: &anyhow::Error, kind: ErrorKind) -> Value {
    let mut hints = Vec::new();
    let mut firsts = error.chain().map(|cause| {
        let text = cause.to_string();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default().trim().to_string();
        hints.extend(lines.map(|l| l.trim().to_string()).filter(|l| !l.is_empty()));
        first
    });
    let message = firsts.next().unwrap_or_default();
    let causes: Vec<String> = firsts.collect();
    let hint = if hints.is_empty() { Value::Null } else { Value::String(hints.join("\n")) };
    json!({"error": message, "kind": kind_name(kind), "hint": hint, "causes": causes})
}

/// The seconds a step took, as its events carry them: in tenths.
pub(super) fn tenths(took: std::time::Duration) -> f64 {
    (took.as_secs_f64() * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Secrets;

    #[test]
    fn an_error_is_one_object_with_its_kind_hint_and_causes() {
        let (mut printer, captured) = Printer::capture();
        printer.set_mode(Mode::Json);
        let error = anyhow::anyhow!("port 8080 is taken\n  set `ui_port`").context("cannot start Airflow");
        printer.failure(&error, ErrorKind::Input);
        let object: Value = serde_json::from_str(&captured.err()).unwrap();
        assert_eq!(
            object,
            json!({"error": "cannot start Airflow", "kind": "input", "hint": "set `ui_port`", "causes": ["port 8080 is taken"]})
        );
    }

    #[test]
    fn json_events_hide_secrets_and_text_errors_stay_text() {
        let (mut printer, captured) = Printer::capture();
        printer.hide(Secrets::of(&json!({"password": "hunter2-very-secret"})));
        printer.set_mode(Mode::Json);
        printer.note("the password \"hunter2-very-secret\" is set");
        printer.line(&json!({"line": "login hunter2-very-secret"})).unwrap();
        assert!(!captured.err().contains("hunter2") && !captured.out().contains("hunter2"), "{}", captured.err());
        let note: Value = serde_json::from_str(captured.err().lines().next().unwrap()).unwrap();
        assert_eq!(note["event"], "note");
        printer.set_mode(Mode::Text);
        printer.failure(&anyhow::anyhow!("broken"), ErrorKind::Bug);
        assert!(captured.err().ends_with("error: broken\n"), "{}", captured.err());
    }
}
