//! Bad input, as users write it: each case exits 2 with one message naming the file, key or flag,
//! what was expected and how to fix it; nothing panics and nothing is left behind. The exact
//! messages are in one snapshot, which reads as the matrix.

use crate::support::Test;

const DEFAULTS_NOTE: &str = "note: no devflow.toml here or above: using defaults (project `acme-pipelines`, DAGs in dags); `devflow init` writes one\n";

fn toml(text: &str) -> Test {
    Test::new().file("devflow.toml", text).args(["render"])
}

fn values(text: &str) -> Test {
    Test::new().file("deploy/prod.yaml", text).args(["render", "--values", "deploy/prod.yaml"])
}

fn profile(text: &str) -> Test {
    Test::new().file("team.yaml", text).args(["render", "--profile", "team.yaml"])
}

fn cases() -> Vec<(&'static str, Test)> {
    vec![
        ("malformed TOML", toml("name = \n")),
        ("duplicate table", toml("[cluster]\nworkers = 1\n[cluster]\nworkers = 2\n")),
        ("unknown top-level key", toml("nmae = \"x\"\n")),
        ("unknown key in [cluster]", toml("[cluster]\nprovder = \"kind\"\n")),
        ("unknown key in [airflow]", toml("[airflow]\nexecuter = \"CeleryExecutor\"\n")),
        ("wrong type: workers", toml("[cluster]\nworkers = \"two\"\n")),
        ("wrong type: ui_port as a string", toml("[cluster]\nui_port = \"8080\"\n")),
        ("wrong type: values not a list", toml("[airflow]\nvalues = \"deploy/prod.yaml\"\n")),
        ("port 0", toml("[cluster]\nui_port = 0\n")),
        ("port out of range", toml("[cluster]\nui_port = 70000\n")),
        ("too many workers", toml("[cluster]\nworkers = 20\n")),
        ("unknown provider in the file", toml("[cluster]\nprovider = \"minikube\"\n")),
        ("unknown provider flag", Test::new().args(["render", "--provider", "minikube"])),
        ("existing without a context", toml("[cluster]\nprovider = \"existing\"\n")),
        ("a context for kind", toml("[cluster]\ncontext = \"shared-dev\"\n")),
        (
            "workers on an existing cluster",
            toml("[cluster]\nprovider = \"existing\"\ncontext = \"dev\"\nworkers = 2\n"),
        ),
        (
            "a namespace that is not a name",
            toml("[cluster]\nprovider = \"existing\"\ncontext = \"dev\"\nnamespace = \"Team_A\"\n"),
        ),
        (
            "mounting into an existing cluster",
            toml("[cluster]\nprovider = \"existing\"\ncontext = \"dev\"\ndag_delivery = \"mount\"\n"),
        ),
        ("pushing to several kind nodes", toml("[cluster]\nworkers = 1\ndag_delivery = \"push\"\n")),
        ("unknown DAG delivery", toml("[cluster]\ndag_delivery = \"rsync\"\n")),
        (
            "an image to build for an existing cluster",
            Test::new()
                .file("devflow.toml", "[cluster]\nprovider = \"existing\"\ncontext = \"dev\"\n")
                .file("requirements.txt", "pandas\n")
                .args(["render"]),
        ),
        (
            "settings file with an unknown section",
            Test::new().file("s.yaml", "pool:\n  x: {slots: 1}\n").args(["settings", "import", "s.yaml"]),
        ),
        ("settings file that is missing", Test::new().args(["settings", "import", "nowhere.yaml"])),
        ("unknown profile", Test::new().args(["render", "--profile", "locall"])),
        (
            "profile extends cycle",
            Test::new()
                .file("profiles/a.yaml", "extends: b.yaml\n")
                .file("profiles/b.yaml", "extends: a.yaml\n")
                .args(["render", "--profile", "profiles/a.yaml"]),
        ),
        (
            "profile extends an unknown profile",
            Test::new().file("profiles/mine.yaml", "extends: celeri\n").args([
                "render",
                "--profile",
                "profiles/mine.yaml",
            ]),
        ),
        (
            "profile file with an unknown key",
            Test::new().file("profiles/mine.yaml", "extends: local\nlaptp: {}\n").args([
                "render",
                "--profile",
                "profiles/mine.yaml",
            ]),
        ),
        (
            "profile file that is not YAML",
            Test::new().file("profiles/mine.yaml", "laptop: [unclosed\n").args([
                "render",
                "--profile",
                "profiles/mine.yaml",
            ]),
        ),
        ("profile file missing", Test::new().args(["render", "--profile", "profiles/nope.yaml"])),
        ("DAG folder missing, no devflow.toml", Test::empty().args(["render"])),
        (
            "DAG folder missing, devflow.toml present",
            Test::empty().file("devflow.toml", "name = \"x\"\n").args(["render"]),
        ),
        ("`dags` is a file", toml("dags = \"dags/etl.py\"\n")),
        ("`dags` does not exist", toml("dags = \"src/dags\"\n")),
        ("`plugins` does not exist", toml("plugins = \"src/plugins\"\n")),
        ("name that cannot be a cluster name", toml("name = \"My Project!\"\n")),
        ("name too long", toml("name = \"a-very-long-project-name-that-goes-on-and-on\"\n")),
        ("folder name with nothing usable", Test::new().file("___/dags/x.py", "").inside("___").args(["render"])),
        ("unsupported Kubernetes version", toml("[cluster]\nkubernetes = \"1.20\"\n")),
        ("malformed Kubernetes version", toml("[cluster]\nkubernetes = \"latest\"\n")),
        ("unsupported chart version", toml("[airflow]\nchart_version = \"1.15.0\"\n")),
        ("missing local chart", toml("[airflow]\nchart = \"charts/airflow\"\n")),
        ("Airflow version the chart does not run", toml("[airflow]\nversion = \"2.9.3\"\n")),
        ("image without a tag", toml("[airflow]\nimage = \"registry.acme.io/airflow\"\n")),
        ("unknown executor", toml("[airflow]\nexecutor = \"CeleryExecuter\"\n")),
        ("nested airflow.cfg value", toml("[airflow.config.core]\nparallelism = { max = 8 }\n")),
        ("values file in devflow.toml missing", toml("[airflow]\nvalues = [\"deploy/prod.yaml\"]\n")),
        ("values file flag missing", Test::new().args(["render", "--values", "deploy/prod.yaml"])),
        ("production values not YAML", values("executor: CeleryExecutor\nworkers: [unclosed\n")),
        ("production values a list", values("- executor\n- workers\n")),
        (
            "production values with an unknown top-level key",
            values("executor: CeleryExecutor\nworker:\n  replicas: 3\n"),
        ),
        ("production values against the chart schema", values("workers:\n  replicas: five\n")),
        ("Airflow 2 production values with an Airflow 3 profile", values("airflowVersion: \"2.11.2\"\n")),
        ("an executor Airflow 3 removed", values("executor: CeleryKubernetesExecutor\n")),
        ("a nested typo in production values", values("workers:\n  replicas: 2\n  persistence:\n    enabeld: true\n")),
        ("a typo in a profile's laptop section", profile("extends: local\nlaptop:\n  wrokers:\n    replicas: 1\n")),
        (
            "a nested typo in a profile's laptop section",
            profile("extends: local\nlaptop:\n  workers:\n    replcas: 1\n"),
        ),
        ("a profile without needs.cpus", profile("description: mine\nneeds:\n  memory_gib: 4\n")),
        ("a hybrid executor in devflow.toml", toml("[airflow]\nexecutor = \"LocalKubernetesExecutor\"\n")),
        ("--set without =", Test::new().args(["render", "--set", "workers.replicas"])),
        ("--set an unknown key", Test::new().args(["render", "--set", "workerz.replicas=2"])),
        ("--set a wrong type", Test::new().args(["render", "--set", "workers.replicas=many"])),
        ("--set an empty key segment", Test::new().args(["render", "--set", "workers..replicas=2"])),
        ("[airflow.set] a wrong type", toml("[airflow.set]\n\"scheduler.replicas\" = \"two\"\n")),
        ("conflicting flags", Test::new().args(["render", "--only", "values", "--explain"])),
        (
            "k3d and a path it cannot mount",
            Test::new().file("a:b/dags/x.py", "").inside("a:b").args(["render", "--provider", "k3d"]),
        ),
        ("init with a bad --name", Test::empty().args(["init", "--name", "Bad Name"])),
        ("init with an unknown profile", Test::empty().args(["init", "--profile", "airflow4"])),
    ]
}

#[test]
fn each_bad_input_gets_one_clear_message_and_exit_code_2() {
    let cases = cases();
    assert!(cases.len() >= 25);
    let mut matrix = String::new();
    for (name, test) in cases {
        let before = test.tree();
        let out = test.run();
        assert_eq!(out.code, Some(2), "{name}: expected exit code 2\n{}", out.stderr);
        assert_eq!(out.stdout, "", "{name}: nothing on standard output");
        // One error; a project without devflow.toml also gets its one note about the defaults.
        let error = out.stderr.strip_prefix(DEFAULTS_NOTE).unwrap_or(&out.stderr);
        assert!(error.starts_with("error: ") && error.matches("error: ").count() == 1, "{name}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{name}: {}", out.stderr);
        assert_eq!(test.tree(), before, "{name}: the project changed");
        matrix.push_str(&format!("── {name}\n$ devflow {}\n{}\n", test.command_line(), out.stderr.trim_end()));
    }
    insta::assert_snapshot!(matrix);
}

/// Airflow 2 still has the hybrid executors: they stay valid with an Airflow 2 profile.
#[test]
fn the_hybrid_executors_are_valid_on_airflow2() {
    use crate::support::Expect;
    Test::new()
        .file("deploy/prod.yaml", "executor: CeleryKubernetesExecutor\n")
        .args(["render", "--profile", "airflow2", "--values", "deploy/prod.yaml", "--only", "values"])
        .status(0)
        .stdout_contains("executor: CeleryKubernetesExecutor\n")
        .run();
}
