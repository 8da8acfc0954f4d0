//! The policy devflow waits by: every state a pod or job of the chart goes through on a real
//! cluster, and whether it is progress (keep waiting), a warning (say so once, keep waiting), a
//! failure (stop now, with the reason and the fix) or history (a note, never a failure). Each row
//! names the real behaviour it rests on; `workloads` only finds which state a pod is in.

/// What devflow does about a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Progress,
    Warning,
    Failure,
    History,
}

/// The states of a pod or job that devflow tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ready,
    Starting,
    RunningNotReady,
    WaitingForMigrations,
    JobRunning,
    JobRetrying,
    JobCriteriaMet,
    JobComplete,
    JobFailureTarget,
    JobFailed,
    PullRetrying,
    PullNeverHeals,
    ClaimBinding,
    ClaimMissing,
    WaitingForOldPod,
    ShortOfResources,
    OutOfResources,
    CrashRestarting,
    CrashWillNotHeal,
    OomKilledAgain,
    OomKilledBefore,
    FailedBesideReplacement,
    StaleStatus,
    ConfigError,
}

/// One row: a state, what devflow does about it, and the real behaviour that says so.
pub struct Rule {
    pub state: State,
    pub verdict: Verdict,
    pub because: &'static str,
}

/// Restarts of a main container, all with the same exit, after which it will not heal by waiting
/// (the kubelet's back-off is 10 s, 20 s, 40 s…: three tries are over a minute of the same end).
pub const CRASHES_THAT_WILL_NOT_HEAL: i32 = 3;

/// How long `Insufficient memory`/`cpu` may last, with nothing about to free room, before it is a
/// failure: the scheduler retries an unschedulable pod when the cluster changes and at least every
/// 5 min (kube-scheduler `podMaxInUnschedulablePodsDuration`), and a job pod finishing frees its
/// requests within seconds.
pub const SHORT_OF_RESOURCES_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub const POLICY: &[Rule] = &[
    Rule {
        state: State::Ready,
        verdict: Verdict::Progress,
        because: "the pod's Ready condition is True in a status written since its containers last started",
    },
    Rule {
        state: State::Starting,
        verdict: Verdict::Progress,
        because: "Pending, ContainerCreating, PodInitializing: the kubelet is pulling images and starting containers",
    },
    Rule {
        state: State::RunningNotReady,
        verdict: Verdict::Progress,
        because: "running but its readiness probe has not passed yet (the chart's probes start after 10–15 s)",
    },
    Rule {
        state: State::WaitingForMigrations,
        verdict: Verdict::Progress,
        because: "chart 1.22.0 templates/_helpers.yaml: the init container wait-for-airflow-migrations runs `airflow db check-migrations --migration-wait-timeout=60`, exits non-zero while the migration job runs longer, and the kubelet restarts it (CrashLoopBackOff between tries)",
    },
    Rule {
        state: State::JobRunning,
        verdict: Verdict::Progress,
        because: "a Job with an active pod and no Complete/Failed condition is still running",
    },
    Rule {
        state: State::JobRetrying,
        verdict: Verdict::Progress,
        because: "the create-user job has restartPolicy OnFailure and no wait init container: it fails until migrations are done and the kubelet restarts it in the same pod (apache/airflow PR #11533: \"it'll keep failing until it passes\"); the Job fails only at backoffLimit (6), counting those restarts (kubernetes pkg/controller/job/job_controller.go pastBackoffLimitOnFailure)",
    },
    Rule {
        state: State::JobCriteriaMet,
        verdict: Verdict::Progress,
        because: "Kubernetes 1.31+ sets SuccessCriteriaMet before Complete, while the job's pods finish",
    },
    Rule {
        state: State::JobComplete,
        verdict: Verdict::Progress,
        because: "the Job's Complete condition (or its succeeded count) says it is done",
    },
    Rule {
        state: State::JobFailureTarget,
        verdict: Verdict::Progress,
        because: "Kubernetes 1.31+ sets FailureTarget before Failed, while the job's pods terminate: Failed follows",
    },
    Rule {
        state: State::JobFailed,
        verdict: Verdict::Failure,
        because: "the Job's Failed condition is True (BackoffLimitExceeded, DeadlineExceeded): no more pods will be made",
    },
    Rule {
        state: State::PullRetrying,
        verdict: Verdict::Warning,
        because: "kubernetes pkg/kubelet/images/image_manager.go retries a failed pull with back-off; a registry rate limit (toomanyrequests, 429) or a network timeout heals on a later try",
    },
    Rule {
        state: State::PullNeverHeals,
        verdict: Verdict::Failure,
        because: "containerd answers `<ref>: not found` for a missing tag and the registry `manifest unknown`/`repository does not exist`/`pull access denied`: no retry finds an image that does not exist (InvalidImageName and ErrImageNeverPull are not retried at all)",
    },
    Rule {
        state: State::ClaimBinding,
        verdict: Verdict::Progress,
        because: "kube-scheduler's VolumeBinding plugin reports `pod has unbound immediate PersistentVolumeClaims` until the claim binds (local-path provisions in seconds)",
    },
    Rule {
        state: State::ClaimMissing,
        verdict: Verdict::Failure,
        because: "kube-scheduler's VolumeBinding PreFilter answers `persistentvolumeclaim \"x\" not found` as UnschedulableAndUnresolvable (pkg/scheduler/framework/plugins/volumebinding/volume_binding.go): the pod stays Pending until someone makes the claim",
    },
    Rule {
        state: State::WaitingForOldPod,
        verdict: Verdict::Progress,
        because: "a terminating pod (a StatefulSet's old pod in a rollout: pkg/controller/statefulset RollingUpdate deletes it first) or a running job pod holds its requests until it is gone: on a small node a new pod waits `Insufficient cpu`/`memory` until then (a Deployment's surge pod does not: the chart's api-server has maxSurge 1, maxUnavailable 0, so its old pod stays until the new one is Ready)",
    },
    Rule {
        state: State::ShortOfResources,
        verdict: Verdict::Warning,
        because: "`Insufficient memory`/`cpu` heals when a job pod finishes or an old pod goes: the scheduler retries",
    },
    Rule {
        state: State::OutOfResources,
        verdict: Verdict::Failure,
        because: "`Insufficient memory`/`cpu` past the grace with no pod about to free room: the node is too small for the profile",
    },
    Rule {
        state: State::CrashRestarting,
        verdict: Verdict::Warning,
        because: "the kubelet restarts a crashed container with back-off (10 s doubling to 5 min): a crash while its dependencies start can heal",
    },
    Rule {
        state: State::CrashWillNotHeal,
        verdict: Verdict::Failure,
        because: "the same exit three restarts in a row: the kubelet will keep restarting it the same way",
    },
    Rule {
        state: State::OomKilledAgain,
        verdict: Verdict::Failure,
        because: "OOMKilled in its current run and restarting again: the memory limit is too low for it",
    },
    Rule {
        state: State::OomKilledBefore,
        verdict: Verdict::History,
        because: "kubernetes/api core/v1 ContainerStatus.lastState keeps the last termination (OOMKilled) until the next one, even once the container runs and is ready",
    },
    Rule {
        state: State::FailedBesideReplacement,
        verdict: Verdict::History,
        because: "an Evicted or Shutdown pod stays Failed beside its replacement until the pod garbage collector removes it (terminated-pod-gc-threshold 12500)",
    },
    Rule {
        state: State::StaleStatus,
        verdict: Verdict::Progress,
        because: "after `docker start` the API server serves the pods' status from before the stop (Ready) until the kubelet restarts their containers",
    },
    Rule {
        state: State::ConfigError,
        verdict: Verdict::Failure,
        because: "CreateContainerConfigError, CreateContainerError, RunContainerError: a missing Secret/ConfigMap or a bad spec, which devflow applied before the release",
    },
];

/// What devflow does about a state: its row in [`POLICY`].
pub fn verdict(state: State) -> Verdict {
    POLICY.iter().find(|r| r.state == state).map(|r| r.verdict).unwrap_or(Verdict::Progress)
}

/// The real behaviour a state's row rests on.
pub fn because(state: State) -> &'static str {
    POLICY.iter().find(|r| r.state == state).map(|r| r.because).unwrap_or_default()
}

/// Whether an image pull error's text says the image does not exist (as containerd, Docker Hub
/// and OCI registries word it), rather than a failure a later try can get past.
pub fn pull_never_heals(message: &str) -> bool {
    const NEVER: [&str; 6] = [
        ": not found",
        "manifest unknown",
        "repository does not exist",
        "pull access denied",
        "InvalidImageName",
        "ErrImageNeverPull",
    ];
    NEVER.iter().any(|n| message.contains(n))
}

/// The claim an Unschedulable message says does not exist (`persistentvolumeclaim "x" not found`).
pub fn missing_claim(message: &str) -> Option<&str> {
    let rest = message.split_once("persistentvolumeclaim \"")?.1;
    let (claim, after) = rest.split_once('"')?;
    after.starts_with(" not found").then_some(claim)
}

/// Whether an Unschedulable message is about room on the node (rather than a claim that binds).
pub fn short_of_room(message: &str) -> bool {
    message.contains("Insufficient memory") || message.contains("Insufficient cpu")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_one_row_with_its_reason() {
        let all = [
            State::Ready,
            State::Starting,
            State::RunningNotReady,
            State::WaitingForMigrations,
            State::JobRunning,
            State::JobRetrying,
            State::JobCriteriaMet,
            State::JobComplete,
            State::JobFailureTarget,
            State::JobFailed,
            State::PullRetrying,
            State::PullNeverHeals,
            State::ClaimBinding,
            State::ClaimMissing,
            State::WaitingForOldPod,
            State::ShortOfResources,
            State::OutOfResources,
            State::CrashRestarting,
            State::CrashWillNotHeal,
            State::OomKilledAgain,
            State::OomKilledBefore,
            State::FailedBesideReplacement,
            State::StaleStatus,
            State::ConfigError,
        ];
        assert_eq!(POLICY.len(), all.len());
        for state in all {
            let rows: Vec<&Rule> = POLICY.iter().filter(|r| r.state == state).collect();
            assert_eq!(rows.len(), 1, "{state:?}");
            assert!(rows[0].because.len() > 20, "{state:?} says why");
        }
        assert_eq!(verdict(State::WaitingForMigrations), Verdict::Progress);
        assert_eq!(verdict(State::JobFailed), Verdict::Failure);
        assert_eq!(verdict(State::OomKilledBefore), Verdict::History);
    }

    #[test]
    fn pull_errors_that_never_heal_are_told_from_rate_limits() {
        let missing = "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/apache/airflow:9.9.9\": failed to resolve reference \"docker.io/apache/airflow:9.9.9\": docker.io/apache/airflow:9.9.9: not found";
        assert!(pull_never_heals(missing));
        assert!(pull_never_heals("failed to resolve reference \"ghcr.io/acme/x:1\": manifest unknown"));
        let limited = "failed to pull and unpack image \"docker.io/apache/airflow:3.2.2\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/apache/airflow/manifests/sha256:0f: 429 Too Many Requests - Server message: toomanyrequests: You have reached your unauthenticated pull rate limit.";
        assert!(!pull_never_heals(limited));
        assert!(!pull_never_heals("dial tcp 104.16.0.1:443: i/o timeout"));
    }
}
