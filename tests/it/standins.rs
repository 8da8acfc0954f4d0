//! Production values that reference Secrets only production has: devflow stands in for them with
//! values from `.devflow/secrets.env`, refuses to start `up` while one is missing, and, once they
//! are filled, Airflow comes up on the fake tier, whose kubelet refuses a container whose env
//! names a missing Secret or key (as a real one does).

use std::os::unix::fs::PermissionsExt;

use crate::lifecycle::Lab;
use crate::support::Expect;
use crate::test_name;

/// A local image under a private registry's name, removed when dropped.
struct LocalImage(String);

impl LocalImage {
    fn tag(source: &str, name: &str) -> LocalImage {
        let status = std::process::Command::new("docker").args(["tag", source, name]).status().unwrap();
        assert!(status.success(), "docker tag {source} {name}");
        LocalImage(name.to_string())
    }
}

impl Drop for LocalImage {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rmi", &self.0]).output();
    }
}

#[test]
fn eks_values_come_up_once_the_stand_in_values_are_filled_and_the_private_image_pulled() {
    // The fixture's ECR image, under a tag of this run's own.
    let tag = format!("3.2.2-acme.7-{}", std::process::id());
    let image = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/data-platform/airflow:{tag}");
    let airflow = format!(
        "profile = \"celery\"\nvalues = [\"deploy/eks-celery.yaml\"]\n\n[airflow.set]\n\"images.airflow.tag\" = \"{tag}\"\n\n[airflow.env]\nDBT_API_TOKEN = \"dbtu_env-Secret-1a2b3c4d\""
    );
    let Some(lab) =
        Lab::with_project(test_name!(), "provider = \"kind\"", &airflow, |t| t.production("eks-celery.yaml"))
    else {
        return;
    };
    // Missing values: an input error before anything starts, naming the key and the file.
    lab.devflow(&["up", "--no-watch"])
        .status(2)
        .stderr_contains("acme-airflow-slack-conn/uri=")
        .stderr_contains("devflow wrote .devflow/secrets.env (mode 0600, git-ignored)")
        .run();
    assert!(lab.calls("kind", &["create"]).is_empty(), "nothing starts while a value is missing");
    let file = lab.test().dir().join(".devflow/secrets.env");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(lab.test().dir().join(".devflow/.gitignore")).unwrap().contains("*\n"));
    // A second run, the file still unfilled, says to fill it and leaves it alone.
    lab.devflow(&["up", "--no-watch"]).status(2).stderr_contains("add to .devflow/secrets.env").run();

    let laptop_webhook = "slack://:xoxb-laptop-only-token-0001@/?channel=dev-alerts";
    std::fs::write(&file, format!("acme-airflow-slack-conn/uri={laptop_webhook}\nacme-airflow-extra-env/TEAM=data\n"))
        .unwrap();
    // The ECR image is not on this machine: `up` says so, and the two ways out, before it starts.
    lab.devflow(&["up", "--no-watch"])
        .status(2)
        .stderr_contains(format!("the Airflow image {image} is in a private registry"))
        .stderr_contains(format!("`docker pull {image}`"))
        .stderr_contains("`image = \"apache/airflow:<version>\"`")
        .run();
    assert!(lab.calls("kind", &["create"]).is_empty(), "nothing starts while the image is missing");

    let _pulled = LocalImage::tag(crate::world::node_image(), &image);
    let output = lab.devflow(&["up", "--no-watch"]).status(0).stderr_contains("✓ Airflow is ready").run();
    assert_eq!(lab.calls("kind", &["load", "docker-image", &image]).len(), 1, "the private image is loaded");
    assert!(!output.stderr.contains(laptop_webhook) && !output.stdout.contains(laptop_webhook));
    let stored = lab.world.kube().stored();
    let secret = stored
        .iter()
        .find(|(path, _)| path.ends_with("/secrets/acme-airflow-slack-conn"))
        .map(|(_, s)| s.clone())
        .expect("the stand-in Secret is applied");
    assert_eq!(secret["stringData"]["uri"], laptop_webhook);
    // The project's secret environment variable is in devflow's Secret, and shown nowhere.
    let env = stored.iter().find(|(path, _)| path.ends_with("/secrets/devflow-env")).expect("devflow's env Secret").1;
    assert_eq!(env["stringData"]["DBT_API_TOKEN"], "dbtu_env-Secret-1a2b3c4d");
    assert!(!output.stderr.contains("dbtu_env-Secret-1a2b3c4d") && !output.stdout.contains("dbtu_env-Secret-1a2b3c4d"));
    let extra = stored.iter().find(|(path, _)| path.ends_with("/secrets/acme-airflow-extra-env")).unwrap().1;
    assert_eq!(extra["stringData"]["TEAM"], "data");
}

/// A claim only production has, kept by name: the fake scheduler leaves the pods Pending as
/// kube-scheduler does (`persistentvolumeclaim "x" not found`), and `up` stops at once naming it.
#[test]
fn a_kept_production_claim_that_does_not_exist_stops_up_naming_it() {
    let airflow = "values = [\"deploy/claim.yaml\"]\nkeep = [\"shared-data\"]";
    let values = "volumes:\n  - name: shared-data\n    persistentVolumeClaim:\n      claimName: team-shared-data\nvolumeMounts:\n  - name: shared-data\n    mountPath: /shared\n";
    let Some(lab) =
        Lab::with_project(test_name!(), "provider = \"kind\"", airflow, |t| t.file("deploy/claim.yaml", values))
    else {
        return;
    };
    let started = std::time::Instant::now();
    lab.devflow(&["up", "--no-watch", "--timeout", "5m"])
        .status(1)
        .stderr_contains("persistentvolumeclaim \"team-shared-data\" not found")
        .stderr_contains("the claim team-shared-data does not exist in this namespace")
        .run();
    assert!(started.elapsed().as_secs() < 120, "up failed fast, not at its timeout: {:?}", started.elapsed());
    lab.devflow(&["down", "--yes"]).status(0).run();
}

/// An image neither on the node nor in its registry: the fake kubelet's pull fails as
/// containerd's does (`failed to resolve reference … not found`), and `up` stops naming the image.
#[test]
fn an_image_the_registry_lacks_stops_up_naming_it() {
    let airflow = "[airflow.set]\n\"images.airflow.tag\" = \"3.2.9-typo\"";
    let Some(lab) = Lab::with_project(test_name!(), "provider = \"kind\"", airflow, |t| t) else { return };
    lab.world.scenario(serde_json::json!({"registry_lacks": ["apache/airflow:3.2.9-typo"]}));
    let started = std::time::Instant::now();
    lab.devflow(&["up", "--no-watch", "--timeout", "5m"])
        .status(1)
        .stderr_contains("failed to resolve reference \"docker.io/apache/airflow:3.2.9-typo\"")
        .stderr_contains("the node cannot pull apache/airflow:3.2.9-typo")
        .run();
    assert!(started.elapsed().as_secs() < 120, "up failed fast, not at its timeout: {:?}", started.elapsed());
    lab.devflow(&["down", "--yes"]).status(0).run();
}

/// Each production fixture, as a new user tries it: `up` says which stand-in values to fill and
/// which private image to pull, shows no secret of the fixture anywhere, and comes up once they are
/// there. Each private image is tagged for this run only (other runs share the Docker daemon).
#[test]
fn every_production_fixture_comes_up_once_its_stand_ins_are_filled() {
    let mut told = Vec::new();
    for (fixture, profile, secrets) in crate::redaction::FIXTURES {
        let text = std::fs::read_to_string(crate::support::fixtures().join("production").join(fixture)).unwrap();
        let values: serde_json::Value = serde_norway::from_str(&text).unwrap();
        // `-every`: the EKS test above tags the same fixture's image in this process, maybe at once.
        let tag = format!("{}-{}-every", values["images"]["airflow"]["tag"].as_str().unwrap(), std::process::id());
        let airflow = format!(
            "profile = \"{profile}\"\nvalues = [\"deploy/{fixture}\"]\n\n[airflow.set]\n\"images.airflow.tag\" = \"{tag}\""
        );
        let name = format!("{}-{}", test_name!(), fixture.split('-').next().unwrap());
        let Some(lab) = Lab::with_project(&name, "provider = \"kind\"", &airflow, |t| t.production(fixture)) else {
            return;
        };
        let mut pulled = None;
        let mut ready = false;
        for _ in 0..4 {
            let output = lab.devflow(&["up", "--no-watch"]).run();
            crate::redaction::assert_hidden(&output, secrets, &format!("up ({fixture})"));
            let stderr = &output.stderr;
            match output.code {
                Some(0) => {
                    assert!(stderr.contains("✓ Airflow is ready"), "{fixture}: {stderr}");
                    ready = true;
                    break;
                }
                Some(2) if stderr.contains(".devflow/secrets.env") => {
                    let file = lab.test().dir().join(".devflow/secrets.env");
                    let filled: String = std::fs::read_to_string(&file)
                        .unwrap()
                        .lines()
                        .enumerate()
                        .map(|(i, line)| match line.strip_suffix('=') {
                            Some(key) if !line.starts_with('#') => format!("{key}=laptop-value-{i}\n"),
                            _ => format!("{line}\n"),
                        })
                        .collect();
                    std::fs::write(&file, filled).unwrap();
                    told.push(*fixture);
                }
                Some(2) if stderr.contains("is in a private registry") => {
                    assert!(pulled.is_none(), "{fixture}: the image was tagged already:\n{stderr}");
                    let image = stderr.split("the Airflow image ").nth(1).and_then(|r| r.split(' ').next()).unwrap();
                    pulled = Some(LocalImage::tag(crate::world::node_image(), image));
                }
                code => panic!("{fixture}: up exited {code:?}:\n{stderr}"),
            }
        }
        assert!(ready, "{fixture} came up once its stand-ins were filled");
        assert!(pulled.is_some(), "{fixture}'s private image was asked for before `up` started");
        lab.devflow(&["down", "--yes"]).status(0).run();
    }
    assert!(told.contains(&"eks-celery.yaml"), "up says which stand-in values to fill: {told:?}");
    eprintln!("told to fill stand-in values: {told:?}");
}
