//! The command line as a new user meets it: `--help`, `init`, defaults without a devflow.toml,
//! and the commands that are not built yet.

use std::fs;

use serde_json::Value;

use crate::support::{Expect, Test};

#[test]
fn help_lists_every_command_the_product_will_have() {
    let out = Test::new().args(["--help"]).status(0).run();
    for command in [
        "init",
        "render",
        "up",
        "down",
        "stop",
        "start",
        "status",
        "doctor",
        "watch",
        "logs",
        "airflow",
        "shell",
        "open",
        "push",
        "settings",
        "test",
        "creds",
        "completions",
    ] {
        assert!(out.stdout.contains(&format!("\n  {command} ")), "`{command}` missing from --help:\n{}", out.stdout);
    }
}

#[test]
fn completions_are_generated_for_each_shell_with_every_command_and_flag() {
    // Each shell's own mark of a completion script, and what it must complete.
    for (shell, mark) in
        [("bash", "complete -F _devflow"), ("zsh", "#compdef devflow"), ("fish", "complete -c devflow")]
    {
        let out = Test::new().args(["completions", shell]).status(0).stderr("").stdout_contains(mark).run();
        // Flags without their dashes: fish spells them `-l values`.
        for word in ["watch", "render", "values", "no-watch"] {
            assert!(out.stdout.contains(word), "{shell}'s script lacks `{word}`");
        }
    }
    Test::new().args(["completions", "tcsh"]).status(2).stderr_contains("invalid value 'tcsh'").run();
}

#[test]
fn a_flag_wins_over_what_init_wrote_and_a_flag_error_names_the_flag() {
    let test = Test::empty();
    test.devflow(&["init"]).status(0).run();
    // init wrote kind's settings (`workers = 0`, `kubernetes`): `--provider existing` leaves them aside.
    let plan = test
        .devflow(&["render", "--json", "--provider", "existing", "--context", "dev"])
        .status(0)
        .stderr_contains("--provider existing: devflow.toml's [cluster] settings for provider `kind` are left aside")
        .run()
        .json();
    assert_eq!((plan["cluster"]["context"].as_str(), plan["delivery"].as_str()), (Some("dev"), Some("push")));
    test.devflow(&["render", "--provider", "existing"])
        .status(2)
        .stderr_contains("error: --provider existing needs the kube context of the cluster\n  add `--context NAME`")
        .run();
    test.devflow(&["render", "--namespace", "team-a"])
        .status(2)
        .stderr_contains("error: --namespace is for an existing cluster")
        .run();
    test.devflow(&["render", "--provider", "existing", "--context", "dev", "--namespace", "Team_A"])
        .status(2)
        .stderr_contains("error: --namespace ")
        .run();
    test.devflow(&["render", "--ui-port", "0"]).status(2).stderr_contains("error: --ui-port cannot be 0").run();
    let plan = test.devflow(&["render", "--json", "--ui-port", "9090"]).status(0).run().json();
    assert_eq!(plan["url"], "http://127.0.0.1:9090");
    // The same defaults in a file that says `provider = "existing"` are no conflict either.
    let toml = std::fs::read_to_string(test.dir().join("devflow.toml")).unwrap();
    std::fs::write(
        test.dir().join("devflow.toml"),
        toml.replace("provider = \"kind\"", "provider = \"existing\"\ncontext = \"dev\""),
    )
    .unwrap();
    test.devflow(&["render", "--only", "plan"]).status(0).run();
}

#[test]
fn init_writes_the_cluster_flags_down_and_refuses_misplaced_ones_before_writing() {
    let test = Test::empty();
    test.devflow(&["init", "--namespace", "team-a"])
        .status(2)
        .stderr_contains("error: --namespace is for an existing cluster")
        .run();
    assert!(!test.dir().join("devflow.toml").exists(), "nothing is written");
    test.devflow(&["init", "--provider", "existing", "--context", "dev", "--namespace", "team-a", "--ui-port", "9191"])
        .status(0)
        .stderr_lacks("current kube context")
        .run();
    let plan = test.devflow(&["render", "--json"]).status(0).run().json();
    assert_eq!(
        (plan["cluster"]["context"].as_str(), plan["namespace"].as_str(), plan["url"].as_str()),
        (Some("dev"), Some("team-a"), Some("http://127.0.0.1:9191"))
    );
}

/// Before the first `up` there is nothing to act on: each command that acts on the environment
/// says so and how to make it, not what failed on the way (a missing kube context, a cluster
/// Docker does not have).
#[test]
fn commands_on_the_environment_say_when_there_is_none_yet() {
    let commands: [&[&str]; 9] = [
        &["logs"],
        &["airflow", "--", "dags", "list"],
        &["shell"],
        &["test"],
        &["settings", "import", "settings.yaml"],
        &["stop"],
        &["start"],
        &["open"],
        &["open", "--print"],
    ];
    for args in commands {
        Test::new()
            .file("settings.yaml", "variables:\n  a: b\n")
            .args(args.iter().copied())
            .status(1)
            .stderr_contains("error: no environment for this project yet: devflow up creates it")
            .stderr_lacks("kube context")
            .stdout("")
            .run();
    }
}

#[test]
fn init_for_a_shared_cluster_names_the_current_kube_context_and_a_namespace_of_ones_own() {
    let test = Test::empty().file(
        "kubeconfig.yaml",
        "apiVersion: v1\nkind: Config\ncurrent-context: shared-dev\ncontexts:\n- name: shared-dev\n  context: {cluster: dev, user: alice}\nclusters:\n- name: dev\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: alice\n  user: {}\n",
    );
    let kubeconfig = test.dir().join("kubeconfig.yaml");
    let test = test.env("KUBECONFIG", &kubeconfig).env("USER", "alice");
    test.devflow(&["init", "--provider", "existing"])
        .status(0)
        .stderr_contains("the cluster is your current kube context `shared-dev`")
        .run();
    let toml = fs::read_to_string(test.dir().join("devflow.toml")).unwrap();
    assert!(toml.contains("provider = \"existing\"") && toml.contains("context = \"shared-dev\""), "{toml}");
    let plan = test.devflow(&["render", "--json"]).status(0).run().json();
    assert_eq!(
        (plan["namespace"].as_str(), plan["cluster"]["context"].as_str()),
        (Some("devflow-alice-acme-pipelines"), Some("shared-dev"))
    );
    assert_eq!(plan["delivery"], "push");
}

#[test]
fn init_in_an_empty_folder_writes_the_project_file_and_an_example_dag() {
    let test = Test::empty()
        .args(["init"])
        .status(0)
        .stderr("✓ wrote devflow.toml (project `acme-pipelines`, profile `local`)\n✓ created dags/example_dag.py\n✓ created requirements.txt, packages.txt, plugins/, dags/.airflowignore, tests/test_dag_imports.py, .github/workflows/devflow.yml.example, .gitignore (each only where it was missing)\n");
    test.run();
    assert!(test.dir().join("plugins").is_dir());
    assert_eq!(
        fs::read_to_string(test.dir().join(".gitignore")).unwrap(),
        "# devflow's local files: stand-in secrets and environment\n.devflow/\n.env\n__pycache__/\n"
    );
    // The scaffolded requirements.txt and packages.txt name nothing yet: no image to build.
    let plan = test.devflow(&["render", "--json"]).status(0).run().json();
    assert_eq!(plan["image"], Value::Null, "{plan}");
    assert!(
        !plan["steps"].as_array().unwrap().iter().any(|s| s["title"].as_str().unwrap_or("").contains("image")),
        "{plan}"
    );
    let toml = fs::read_to_string(test.dir().join("devflow.toml")).unwrap();
    assert!(toml.contains("name = \"acme-pipelines\""), "{toml}");
    assert!(toml.contains("provider = \"kind\""), "{toml}");
    let dag = fs::read_to_string(test.dir().join("dags/example_dag.py")).unwrap();
    assert!(dag.contains("from airflow.sdk import dag, task"), "{dag}");
}

#[test]
fn init_then_render_works_for_kind_and_k3d() {
    for provider in ["kind", "k3d"] {
        let test = Test::empty();
        test.devflow(&["init", "--provider", provider]).status(0).run();
        // a project with a devflow.toml renders without notes
        let config = test.devflow(&["render", "--only", "cluster", "--json"]).status(0).stderr("").run().json();
        match provider {
            "kind" => assert_eq!(config["kind"], "Cluster"),
            _ => assert_eq!(config["kind"], "Simple"),
        }
    }
}

#[test]
fn init_refuses_to_overwrite_without_force_and_leaves_existing_dags_alone() {
    let test = Test::new().file("devflow.toml", "name = \"mine\"\n");
    test.devflow(&["init"])
        .status(2)
        .stderr(
            "error: [TMP]/acme-pipelines/devflow.toml already exists\n  use `devflow init --force` to overwrite it (dags/ is left as it is)\n",
        )
        .run();
    assert_eq!(fs::read_to_string(test.dir().join("devflow.toml")).unwrap(), "name = \"mine\"\n");

    let test = test.file("requirements.txt", "pandas==2.2.3\n").file(".gitignore", "*.log\n.env");
    test.devflow(&["init", "--force", "--profile", "celery"])
        .status(0)
        .stderr_contains("note: dags/ exists: left as it is")
        .stderr_contains("✓ created packages.txt, plugins/, tests/test_dag_imports.py, .github/workflows/devflow.yml.example, .gitignore (2 line(s) added) (each only where it was missing)")
        .run();
    assert_eq!(
        fs::read_to_string(test.dir().join("requirements.txt")).unwrap(),
        "pandas==2.2.3\n",
        "never overwritten"
    );
    assert_eq!(
        fs::read_to_string(test.dir().join(".gitignore")).unwrap(),
        "*.log\n.env\n# devflow's local files: stand-in secrets and environment\n.devflow/\n__pycache__/\n"
    );
    assert!(fs::read_to_string(test.dir().join("devflow.toml")).unwrap().contains("profile = \"celery\""));
    assert_eq!(fs::read_to_string(test.dir().join("dags/etl.py")).unwrap(), "from airflow.sdk import dag\n");
    assert!(!test.dir().join("dags/example_dag.py").exists());
    assert!(!test.dir().join("dags/.airflowignore").exists(), "the DAG folder is left as it is");
}

#[test]
fn init_records_production_values_and_the_airflow2_example_uses_airflow2_imports() {
    let test = Test::empty().production("airflow2-webserver.yaml");
    test.devflow(&["init", "--profile", "airflow2", "--values", "deploy/airflow2-webserver.yaml", "--name", "legacy"])
        .status(0)
        .run();
    let toml = fs::read_to_string(test.dir().join("devflow.toml")).unwrap();
    assert!(toml.contains("values = [\"deploy/airflow2-webserver.yaml\"]"), "{toml}");
    assert!(toml.contains("name = \"legacy\""), "{toml}");
    let dag = fs::read_to_string(test.dir().join("dags/example_dag.py")).unwrap();
    assert!(dag.contains("from airflow.decorators import dag, task"), "{dag}");
}

/// The example DAG is real Python: CPython compiles it (Airflow itself imports it in the watch tests).
#[test]
fn the_example_dag_compiles() {
    let test = Test::empty();
    test.devflow(&["init"]).status(0).run();
    let status = std::process::Command::new("python3")
        .args(["-m", "py_compile"])
        .arg(test.dir().join("dags/example_dag.py"))
        .env("PYTHONPYCACHEPREFIX", test.dir().parent().unwrap().join("pycache"))
        .status()
        .expect("python3 is installed (.ci/run installs it)");
    assert!(status.success());
}

#[test]
fn without_a_project_file_devflow_says_once_that_it_uses_defaults() {
    Test::new()
        .args(["render", "--only", "cluster"])
        .status(0)
        .stderr("note: no devflow.toml here or above: using defaults (project `acme-pipelines`, DAGs in dags); `devflow init` writes one\n")
        .stdout_contains("name: acme-pipelines\n")
        .run();
}

#[test]
fn the_project_file_is_found_from_a_subfolder() {
    let test = Test::new().file("devflow.toml", "name = \"from-above\"\n").inside("dags");
    let config = test.devflow(&["render", "--only", "cluster", "--json"]).status(0).run().json();
    assert_eq!(config["name"], "from-above");
}

#[test]
fn the_folder_name_becomes_a_cluster_safe_name() {
    let test = Test::new()
        .file("Data_Team.Pipelines (v2)/dags/x.py", "")
        .inside("Data_Team.Pipelines (v2)")
        .args(["render", "--only", "cluster", "--json"])
        .status(0);
    assert_eq!(test.run().json()["name"], "data-team-pipelines-v2");
}

/// `init --force --profile airflow2` swaps devflow's own untouched Airflow 3 example for the
/// Airflow 2 one, and says so; an example the user edited is theirs and stays.
#[test]
fn init_force_with_another_airflow_swaps_only_an_untouched_example() {
    let test = Test::empty();
    test.devflow(&["init"]).status(0).run();
    let dag = test.dir().join("dags/example_dag.py");
    test.devflow(&["init", "--force", "--profile", "airflow2"])
        .status(0)
        .stderr_contains(
            "✓ replaced dags/example_dag.py, devflow's untouched Airflow 3 example, with the Airflow 2 one",
        )
        .run();
    assert!(fs::read_to_string(&dag).unwrap().contains("from airflow.decorators import dag, task"));
    // And back, for Airflow 3.
    test.devflow(&["init", "--force"]).status(0).stderr_contains("with the Airflow 3 one").run();
    assert!(fs::read_to_string(&dag).unwrap().contains("from airflow.sdk import dag, task"));

    let edited = fs::read_to_string(&dag).unwrap().replace("[1, 2, 3]", "[4, 5]");
    fs::write(&dag, &edited).unwrap();
    test.devflow(&["init", "--force", "--profile", "airflow2"])
        .status(0)
        .stderr_contains("note: dags/ exists: left as it is")
        .run();
    assert_eq!(fs::read_to_string(&dag).unwrap(), edited);
}
