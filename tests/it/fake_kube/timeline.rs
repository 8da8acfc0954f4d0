//! When a pod gets through each stage a real one goes through, as a function of the clock: the
//! scheduler (a transient `Unschedulable` heals, a persistent one does not), the image pull (a
//! rate limit heals on a later try, a missing image never), the chart's init container waiting
//! for migrations, then the main containers; and a job's tries. Times are the scenario's, so a
//! test can compress the real ones proportionally (60 s of `--migration-wait-timeout` becomes
//! `migration_wait_timeout_s`, the kubelet's 10 s back-off `crash_backoff_s`).

use serde_json::{Map, Value};

use super::view::{Ctx, scenario_f64};

/// The scenario's clock: how long things take.
pub(super) struct Clock {
    /// Pull, create and start a container (`pod_ready_after_s`).
    pub(super) start: f64,
    /// The kubelet's first restart back-off, doubled after each crash and capped at 30 times it:
    /// kubernetes pkg/kubelet/kubelet.go `containerBackOffPeriod` 10 s, `MaxContainerBackOff`
    /// 300 s (the image puller's back-off is the same, pkg/kubelet/images).
    pub(super) backoff: f64,
    /// `airflow db check-migrations --migration-wait-timeout=60` (chart 1.22.0
    /// templates/_helpers.yaml `wait-for-migrations-command`).
    pub(super) wait_timeout: f64,
}

impl Clock {
    pub(super) fn of(ctx: &Ctx) -> Clock {
        Clock {
            start: scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3),
            // The real 10 s and 60 s compressed a hundredfold, as `pod_ready_after_s` compresses
            // a real container start.
            backoff: scenario_f64(&ctx.scenario, "crash_backoff_s", 0.1),
            wait_timeout: scenario_f64(&ctx.scenario, "migration_wait_timeout_s", 0.6),
        }
    }

    /// The back-off after the k-th failure (0-based).
    pub(super) fn backoff(&self, k: u32) -> f64 {
        (self.backoff * f64::from(1u32 << k.min(5))).min(self.backoff * 30.0)
    }
}

/// One container's tries: each runs `run` seconds and fails, the kubelet waits its back-off, the
/// last one succeeds. `Tries::at` says where a moment falls.
pub(super) struct Tries {
    pub(super) from: f64,
    /// (start, end) of each failed try.
    pub(super) failed: Vec<(f64, f64)>,
    /// When the try that succeeds starts (None: none does).
    pub(super) succeeds_from: Option<f64>,
}

/// Where a moment falls in a container's tries.
pub(super) enum Try {
    /// Not started yet.
    Before,
    /// The n-th try (0-based) runs since `since`.
    Running { n: u32, since: f64 },
    /// Between tries: the n-th failed at `failed_at`; the next starts after `backoff`.
    BackOff { n: u32, failed_at: f64, backoff: f64 },
    /// The last try started at `since` and succeeds.
    Succeeded { restarts: u32, since: f64 },
    /// Failed for good after the n-th try.
    GaveUp { n: u32, failed_at: f64 },
}

impl Tries {
    /// Tries from `from`, each failing after `run` seconds while `fails(k, start)` says so, at
    /// most `limit` of them.
    pub(super) fn new(clock: &Clock, from: f64, run: f64, limit: u32, fails: impl Fn(u32, f64) -> bool) -> Tries {
        let (mut t, mut failed) = (from, Vec::new());
        for k in 0..limit {
            if !fails(k, t) {
                return Tries { from, failed, succeeds_from: Some(t) };
            }
            failed.push((t, t + run));
            t += run + clock.backoff(k);
        }
        Tries { from, failed, succeeds_from: None }
    }

    pub(super) fn at(&self, clock: &Clock, now: f64) -> Try {
        if now < self.from {
            return Try::Before;
        }
        for (k, (start, end)) in self.failed.iter().enumerate() {
            let k = k as u32;
            if now < *end {
                return Try::Running { n: k, since: *start };
            }
            let Some(next) = self.failed.get(k as usize + 1).map(|t| t.0).or(self.succeeds_from) else {
                return Try::GaveUp { n: k, failed_at: *end };
            };
            if now < next {
                return Try::BackOff { n: k, failed_at: *end, backoff: clock.backoff(k) };
            }
        }
        match self.succeeds_from {
            Some(since) => Try::Succeeded { restarts: self.failed.len() as u32, since },
            None => Try::GaveUp { n: self.failed.len() as u32, failed_at: now },
        }
    }
}

/// A pods-scenario entry's `heals_after_s`: the trouble it describes lasts that long from the
/// pod's creation, then heals (absent: it never heals).
pub(super) fn heals_at(sc: Option<&Map<String, Value>>, since: f64) -> f64 {
    sc.and_then(|s| s.get("heals_after_s")).and_then(Value::as_f64).map(|h| since + h).unwrap_or(f64::INFINITY)
}

/// When the scheduler binds the pod: at once, or when a transient `Unschedulable` heals.
pub(super) fn scheduled_at(sc: Option<&Map<String, Value>>, since: f64) -> f64 {
    match sc.and_then(|s| s.get("unschedulable")) {
        Some(_) => heals_at(sc, since),
        None => since,
    }
}

/// The image pull's tries from `from`: with a `pull_error`, each try fails (ErrImagePull for the
/// try, ImagePullBackOff during the back-off) until `heals_after_s`, when the next try pulls.
/// `refused`: the image is nowhere to pull from (fake_kube/refusals.rs): no try succeeds.
pub(super) fn pulls(clock: &Clock, sc: Option<&Map<String, Value>>, since: f64, from: f64, refused: bool) -> Tries {
    let heals = if refused {
        f64::INFINITY
    } else if sc.and_then(|s| s.get("pull_error")).is_some() {
        heals_at(sc, since)
    } else {
        from
    };
    Tries::new(clock, from, clock.start.min(0.5), 64, |_, start| start < heals)
}

/// The chart's `wait-for-airflow-migrations` init container: each try waits `wait_timeout`
/// for the migrations and exits 1 (`TimeoutError: There are still unapplied migrations after 60
/// seconds`, apache/airflow issue #15340) if they are not done; the try running when they finish
/// succeeds then.
pub(super) fn waits_for_migrations(clock: &Clock, from: f64, migrations_done: f64) -> Tries {
    Tries::new(clock, from, clock.wait_timeout, 64, |_, start| migrations_done > start + clock.wait_timeout)
}
