//! Every command's `--json` holds to the contract in `schemas/devflow-output.schema.json`: its
//! standard output validates against the definition named after the command, and every line of
//! its standard error is a progress event or the one error. A field renamed, removed or added in
//! a command's JSON without the schema fails here.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::day2::{answer, up_with_scheduler};
use crate::support::{Expect, Output, Test};
use crate::test_name;

/// The contract, and a validator for each of its definitions.
pub struct Contract {
    schema: Value,
}

impl Contract {
    pub fn load() -> Contract {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/devflow-output.schema.json");
        let schema = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("the contract is JSON");
        Contract { schema }
    }

    /// The errors of `instance` against the definition `name` (the whole contract, rooted there).
    fn errors(&self, name: &str, instance: &Value) -> Vec<String> {
        assert!(self.schema["$defs"].get(name).is_some(), "the contract has no definition `{name}`");
        let mut rooted = json!({"$schema": self.schema["$schema"], "$defs": self.schema["$defs"]});
        rooted["$ref"] = json!(format!("#/$defs/{name}"));
        let validator = jsonschema::draft202012::new(&rooted).expect("the contract is a valid schema");
        validator.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }

    #[track_caller]
    fn assert_valid(&self, name: &str, instance: &Value, what: &str) {
        let errors = self.errors(name, instance);
        assert!(errors.is_empty(), "{what} breaks the contract's `{name}`:\n{}\n{instance:#}", errors.join("\n"));
    }

    /// A command whose standard output is one JSON document.
    #[track_caller]
    pub fn document(&self, name: &str, out: &Output) {
        let document: Value = serde_json::from_str(out.raw_stdout())
            .unwrap_or_else(|e| panic!("`{name}` printed no JSON document ({e}):\n{}", out.stdout));
        self.assert_valid(name, &document, &format!("the output of `{name}`"));
        self.stderr(name, out);
    }

    /// A command whose standard output is one JSON object a line; returns them (at least one).
    #[track_caller]
    pub fn lines(&self, name: &str, out: &Output) -> Vec<Value> {
        let lines: Vec<Value> = out
            .raw_stdout()
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("`{name}` printed a line that is not JSON ({e}): {line}"))
            })
            .collect();
        assert!(!lines.is_empty(), "`{name}` printed nothing to check:\n{}", out.stderr);
        for line in &lines {
            self.assert_valid(name, line, &format!("a line of `{name}`"));
        }
        self.stderr(name, out);
        lines
    }

    /// Every line of standard error is a progress event or the error; returns the error, if any.
    #[track_caller]
    pub fn stderr(&self, name: &str, out: &Output) -> Option<Value> {
        let mut error = None;
        for line in out.stderr.lines() {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("`{name} --json` wrote text on standard error ({e}): {line}"));
            self.assert_valid("stderr_line", &value, &format!("a line of `{name}`'s standard error"));
            if value.get("error").is_some() {
                assert!(error.is_none(), "`{name}` wrote two errors:\n{}", out.stderr);
                error = Some(value);
            }
        }
        error
    }

    /// A failed command: its error object, of this kind.
    #[track_caller]
    pub fn error(&self, name: &str, out: &Output, kind: &str) -> Value {
        let error = self.stderr(name, out).unwrap_or_else(|| panic!("`{name}` wrote no error object:\n{}", out.stderr));
        assert_eq!(error["kind"], kind, "{error}");
        error
    }
}

#[test]
fn the_contract_catches_a_renamed_or_missing_field() {
    let contract = Contract::load();
    let cluster = json!({"name": "acme", "provider": "kind", "context": "kind-acme"});
    assert!(contract.errors("cluster", &cluster).is_empty());
    assert!(
        !contract.errors("cluster", &json!({"name": "acme", "provider": "kind"})).is_empty(),
        "context is required"
    );
    let status = |delivery: &str| {
        json!({"project": "acme", "cluster": cluster, "namespace": "airflow", delivery: "mount",
        "state": "absent", "url": "http://127.0.0.1:8080", "profile": "local", "chart_version": "1.22.0",
        "airflow_version": "3.2.2", "executor": "LocalExecutor", "dags_folder": "/p/dags", "dags_mount": "/opt/airflow/dags",
        "nodes": [], "components": [{"name": "scheduler", "ready": 1, "total": 1, "restarts": 0, "age": 5, "phase": "Ready"}]})
    };
    assert!(
        contract.errors("status", &status("delivery")).is_empty(),
        "{:?}",
        contract.errors("status", &status("delivery"))
    );
    assert!(!contract.errors("status", &status("dag_delivery")).is_empty(), "the old name is refused");
}

/// The commands that need no cluster: `init`, `render` (each form), `up --dry-run`, and the
/// errors of bad input, as JSON on standard error with exit 2.
#[test]
fn commands_without_a_cluster_print_the_contracts_json() {
    let contract = Contract::load();
    let test = Test::empty();
    let init = test.devflow(&["init", "--json"]).status(0).run();
    contract.document("init", &init);
    assert!(init.json()["created"].as_array().unwrap().iter().any(|f| f == "devflow.toml"), "{}", init.stdout);

    let again = test.devflow(&["init", "--json"]).status(2).stdout("").run();
    let error = contract.error("init", &again, "input");
    assert_eq!(error["hint"], "use `devflow init --force` to overwrite it (dags/ is left as it is)", "{error}");

    let rendered = test.devflow(&["render", "--json"]).status(0).run();
    contract.document("render", &rendered);
    assert_eq!(rendered.json()["cluster"]["provider"], "kind");
    contract.document("render_explain", &test.devflow(&["render", "--explain", "--json"]).status(0).run());
    contract.document("render_part", &test.devflow(&["render", "--only", "cluster", "--json"]).status(0).run());
    contract.document("up_dry_run", &test.devflow(&["up", "--dry-run", "--json"]).status(0).run());

    let bad = test.devflow(&["render", "--json", "--ui-port", "0"]).status(2).stdout("").run();
    contract.error("render", &bad, "input");
    // Before `up` there is nothing to read logs of: an environment error, exit 1.
    contract.error("logs", &test.devflow(&["logs", "--json"]).status(1).stdout("").run(), "environment");
}

/// A kind project on the fake tier: every command that acts on it, each with `--json`.
#[test]
fn every_command_on_a_cluster_prints_the_contracts_json() {
    let Some((lab, container)) = up_with_scheduler(test_name!()) else { return };
    let contract = Contract::load();
    lab.world.scenario(json!({"exec": {"scheduler": container}, "logs": {"scheduler": "one\ntwo"}}));

    // A second `up`: nothing changes, and it says so in its `ready` line.
    let up = lab.devflow(&["up", "--no-watch", "--json"]).status(0).run();
    assert_eq!(contract.lines("up", &up)[0]["changed"], false, "{}", up.stdout);
    let status = lab.devflow(&["status", "--json"]).status(0).run();
    contract.document("status", &status);
    assert!(!status.json()["components"].as_array().unwrap().is_empty(), "{}", status.stdout);
    contract.document("list", &lab.devflow(&["list", "--json"]).status(0).run());
    contract.document("doctor", &lab.devflow(&["doctor", "--json"]).run());
    let logs = lab.devflow(&["logs", "scheduler", "--json"]).status(0).run();
    assert_eq!(contract.lines("logs", &logs).len(), 2, "{}", logs.stdout);
    contract.document("push", &lab.devflow(&["push", "--json"]).status(0).run());
    contract.document("creds", &lab.devflow(&["creds", "--json"]).status(0).run());

    answer(
        &container,
        r#"{"dags": [{"dag_id": "hello", "file": "/opt/airflow/dags/hello.py", "tasks": 2}], "import_errors": [], "problems": [], "seconds": 0.4}"#,
    );
    contract.document("test", &lab.devflow(&["test", "--json"]).status(0).run());
    std::fs::write(lab.test().dir().join("settings.yaml"), "variables:\n  env: dev\n").unwrap();
    answer(&container, r#"[{"kind": "variable", "name": "env", "result": "created"}]"#);
    contract
        .document("settings_import", &lab.devflow(&["settings", "import", "settings.yaml", "--json"]).status(0).run());

    contract.document("stop", &lab.devflow(&["stop", "--json"]).status(0).run());
    contract.document("start", &lab.devflow(&["start", "--json"]).status(0).run());
    // No question is asked of a script: without --yes, `down` refuses, as an input error.
    contract.error("down", &lab.devflow(&["down", "--json"]).status(2).stdout("").run(), "input");
    let down = lab.devflow(&["down", "--yes", "--json"]).status(0).run();
    contract.document("down", &down);
    assert_eq!(down.json()["removed"], true, "{}", down.stdout);
}
