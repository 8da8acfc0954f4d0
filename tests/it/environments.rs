//! `devflow list` and `down --project`/`--path`: every environment devflow made on the machine,
//! seen and removed from any folder, orphans among them (a project folder moved away, a state
//! folder deleted), against the fake tools and real node containers.

use std::path::Path;

use crate::lifecycle::Lab;
use crate::support::{Expect, Output, Run};
use crate::test_name;

/// Runs devflow in `dir` rather than in the project folder (which may be gone).
fn run_in(run: Run<'_>, dir: &Path) -> Output {
    let mut command = run.command();
    command.current_dir(dir);
    let output = command.output().expect("devflow runs");
    run.check(output)
}

#[test]
fn a_moved_project_is_listed_as_orphaned_and_down_by_name_removes_it_from_anywhere() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let listed = lab.devflow(&["list", "--json"]).status(0).run().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(
        (listed[0]["project"].as_str(), listed[0]["state"].as_str()),
        (Some(lab.name.as_str()), Some("running"))
    );
    assert_eq!(listed[0]["cluster"]["name"], lab.name.as_str());
    assert_eq!(listed[0]["folder"], lab.test().dir().display().to_string());

    let elsewhere = lab.test().temp().join("moved");
    std::fs::rename(lab.test().dir(), &elsewhere).unwrap();
    let anywhere = lab.test().temp();
    let listed = run_in(lab.devflow(&["list", "--json"]).status(0), anywhere).json();
    assert_eq!(listed[0]["state"], "orphaned", "{listed}");
    assert!(listed[0]["reason"].as_str().unwrap().ends_with("is gone"), "{listed}");
    run_in(
        lab.devflow(&["list"]).status(0).stdout_contains("orphaned").stdout_contains("devflow down --project NAME"),
        anywhere,
    );

    run_in(
        lab.devflow(&["down", "--project", "nope", "--yes"])
            .status(2)
            .stderr_contains("devflow made no environment for `--project nope`"),
        anywhere,
    );
    run_in(
        lab.devflow(&["down", "--project", &lab.name, "--yes"])
            .status(0)
            .stderr_contains(format!("✓ Deleted the cluster {}", lab.name)),
        anywhere,
    );
    assert!(lab.world.containers().is_empty(), "the cluster's node containers are gone");
    assert!(!lab.state_dir().exists(), "the state folder is gone");
    assert!(elsewhere.join("devflow.toml").is_file(), "the user's files are left alone");
    run_in(lab.devflow(&["list"]).status(0).stdout_contains("no environments"), anywhere);
}

#[test]
fn a_renamed_project_is_orphaned_and_down_by_path_removes_only_it() {
    let Some(lab) = Lab::new(test_name!(), "k3d") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let toml = lab.test().dir().join("devflow.toml");
    let renamed =
        std::fs::read_to_string(&toml).unwrap().replace(&format!("name = \"{}\"", lab.name), "name = \"renamed\"");
    std::fs::write(&toml, renamed).unwrap();
    let listed = lab.devflow(&["list", "--json"]).status(0).run().json();
    assert_eq!(listed[0]["state"], "orphaned", "{listed}");
    assert!(listed[0]["reason"].as_str().unwrap().ends_with("is now `renamed`"), "{listed}");
    let folder = lab.test().dir().display().to_string();
    lab.devflow(&["down", "--path", &folder, "--yes"])
        .status(0)
        .stderr_contains(format!("✓ Deleted the cluster {}", lab.name))
        .run();
    assert!(lab.world.containers().is_empty() && !lab.state_dir().exists());
}

#[test]
fn down_in_a_renamed_project_removes_the_environment_it_made_under_its_old_name() {
    let Some(lab) = Lab::new(test_name!(), "k3d") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let toml = lab.test().dir().join("devflow.toml");
    let renamed =
        std::fs::read_to_string(&toml).unwrap().replace(&format!("name = \"{}\"", lab.name), "name = \"renamed\"");
    std::fs::write(&toml, renamed).unwrap();
    // Without a terminal to ask on and without --yes, nothing goes.
    lab.devflow(&["down"])
        .status(2)
        .stderr_contains(format!("when its project was named `{}`", lab.name))
        .stderr_contains("--yes")
        .run();
    assert!(!lab.world.containers().is_empty());
    lab.devflow(&["down", "--yes"]).status(0).stderr_contains(format!("✓ Deleted the cluster {}", lab.name)).run();
    assert!(lab.world.containers().is_empty() && !lab.state_dir().exists());
}

#[test]
fn up_in_a_moved_project_carries_its_environment_over_when_asked() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let old_state = lab.state_dir();
    let moved = lab.test().temp().join("moved");
    std::fs::rename(lab.test().dir(), &moved).unwrap();

    // The old cluster has this project's name: without --yes `up` stops before making anything.
    run_in(
        lab.devflow(&["up", "--no-watch"])
            .status(2)
            .stderr_contains("which is gone (the project moved here)")
            .stderr_contains("devflow up --yes"),
        &moved,
    );
    assert!(old_state.exists(), "the old environment is left as it was");

    run_in(
        lab.devflow(&["up", "--no-watch", "--yes"])
            .status(0)
            .stderr_contains(format!("✓ Deleted the cluster {}", lab.name)),
        &moved,
    );
    assert!(!old_state.exists(), "the old state folder is gone");
    let listed = run_in(lab.devflow(&["list", "--json"]).status(0), &moved).json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(
        (listed[0]["state"].as_str(), listed[0]["folder"].as_str()),
        (Some("running"), moved.to_str()),
        "{listed}"
    );
}

#[test]
fn a_cluster_whose_state_folder_was_deleted_is_found_by_its_marker() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let state = lab.state_dir();
    std::fs::remove_dir_all(&state).unwrap();
    let listed = lab.devflow(&["list", "--json"]).status(0).run().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(
        (listed[0]["project"].as_str(), listed[0]["state"].as_str()),
        (Some(lab.name.as_str()), Some("orphaned"))
    );
    let reason = listed[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("`kind delete cluster --name {}` removes the cluster", lab.name)), "{reason}");
    assert!(reason.contains(&state.display().to_string()), "{reason}");
}
