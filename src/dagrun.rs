//! Following a DAG run: Airflow's API read every [`POLL`], each task instance's state change said
//! once (a live line per task on a terminal), each task's log streamed as it is written (prefixed
//! by the task id), and at the end a summary with the failing tasks' last log lines.
//!
//! Airflow's log endpoint is read whole each time and the records already seen are skipped: the
//! continuation token, passed back while a task runs, answers 500 (measured, FACTS.md). A short
//! task goes queued → success between two polls; its log is read once it is done.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::airflow::runs::{DagRun, LogRecord, TaskInstance};
use crate::airflow::{self, Client};
use crate::kube::taskpods::{TaskPod, TaskPods, Try};
use crate::ui::{self, Mode, Printer};

/// How often Airflow is asked about the run.
const POLL: Duration = Duration::from_millis(200);
/// How long Airflow may leave devflow's requests unanswered before following the run fails.
const SILENCE: Duration = Duration::from_secs(60);
/// How many of a failed task's last log lines the summary shows.
const LAST_LINES: usize = 12;

/// The run being followed.
pub struct Run {
    pub dag_id: String,
    pub run_id: String,
    /// Tasks `--task` left out: marked success without running.
    pub not_run: BTreeSet<String>,
}

/// How following a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The run's final state: `success` or `failed`.
    Finished { state: String },
    /// Ctrl-C: the run is left as it is.
    Interrupted,
}

/// A task instance: its id, and `[index]` when it is mapped.
type Key = (String, i64);

fn name(key: &Key) -> String {
    if key.1 >= 0 { format!("{}[{}]", key.0, key.1) } else { key.0.clone() }
}

/// What devflow knows of one task instance.
#[derive(Debug, Clone)]
struct Tracked {
    instance: TaskInstance,
    /// The try whose log is being read, and how many of its records were seen.
    log_try: u32,
    seen: usize,
    /// The try's log has been read after it ended.
    log_done: bool,
    /// The last shown log lines of the try being read.
    last: VecDeque<String>,
    /// The KubernetesExecutor's pod of the current try, as last listed.
    pod: Option<TaskPod>,
}

/// States in which a try has (or had) a log.
fn has_log(state: Option<&str>) -> bool {
    matches!(
        state,
        Some("running" | "success" | "failed" | "up_for_retry" | "up_for_reschedule" | "deferred" | "restarting")
    )
}

/// States in which a try is over.
fn try_over(state: Option<&str>) -> bool {
    matches!(
        state,
        Some("success" | "failed" | "up_for_retry" | "up_for_reschedule" | "skipped" | "upstream_failed" | "removed")
    )
}

/// A log record worth a person's attention: everything but Airflow's own bookkeeping (the task
/// runner's `task` logger: group markers, "Pre Execute", the start-up parse; and the DAG bag
/// filling up), which is shown too when it is a warning or an error.
pub fn worth_showing(record: &LogRecord) -> bool {
    let loud = matches!(record.level.as_deref(), Some("warning" | "error" | "critical"));
    let bookkeeping = record.logger.as_deref().is_some_and(|l| l == "task" || l.starts_with("airflow.dag_processing"));
    loud || !bookkeeping
}

pub struct Follower<'a> {
    client: &'a mut Client,
    run: Run,
    tasks: BTreeMap<Key, Tracked>,
    /// Task instances in the order Airflow lists them (the live lines' order).
    order: Vec<Key>,
    started: Instant,
    /// The KubernetesExecutor's task pods, when the run's Airflow is the project's and uses it.
    pods: Option<TaskPods>,
}

impl<'a> Follower<'a> {
    pub fn new(client: &'a mut Client, run: Run) -> Self {
        Follower { client, run, tasks: BTreeMap::new(), order: Vec::new(), started: Instant::now(), pods: None }
    }

    /// Each task's pod shown beside its state.
    pub fn with_pods(mut self, pods: TaskPods) -> Self {
        self.pods = Some(pods);
        self
    }

    /// Follows the run until it ends or `stop` is set.
    pub fn follow(&mut self, printer: &mut Printer, stop: &AtomicBool) -> Result<Outcome, airflow::Error> {
        let mut silent: Option<Instant> = None;
        loop {
            if stop.load(Ordering::Relaxed) {
                printer.live(&[]);
                return Ok(Outcome::Interrupted);
            }
            match self.read(printer) {
                Ok(run) if run.is_finished() => {
                    printer.live(&[]);
                    self.summary(&run, printer)?;
                    return Ok(Outcome::Finished { state: run.state });
                }
                Ok(_) => silent = None,
                // A busy Airflow (a task starting on a small machine) can miss a request's time
                // limit: asked again, until it has been silent for [`SILENCE`].
                Err(airflow::Error::Unreachable { .. }) if silent.is_none_or(|s: Instant| s.elapsed() < SILENCE) => {
                    if silent.is_none() {
                        printer.warn("Airflow did not answer in time; asking again");
                    }
                    silent.get_or_insert_with(Instant::now);
                }
                Err(error) => return Err(error),
            }
            let lines = self.live_lines(printer);
            printer.live(&lines);
            let until = Instant::now() + POLL;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The run and its task instances as Airflow has them now, each change said. The run is read
    /// first: task instances read after it are at least as new, so a finished run's last read
    /// holds every task's final state.
    fn read(&mut self, printer: &mut Printer) -> Result<DagRun, airflow::Error> {
        let run = self.client.dag_run(&self.run.dag_id, &self.run.run_id)?;
        let instances = self.client.task_instances(&self.run.dag_id, &self.run.run_id)?;
        let mut pods = self.task_pods(printer);
        for instance in instances {
            let pod = pods.remove(&(instance.task_id.clone(), instance.map_index, instance.try_number));
            self.update(instance, pod, printer)?;
        }
        Ok(run)
    }

    /// The run's task pods now; when the cluster cannot list them, said once, and the run
    /// followed without them (Airflow still has every state).
    fn task_pods(&mut self, printer: &mut Printer) -> BTreeMap<Try, TaskPod> {
        let Some(pods) = &self.pods else { return BTreeMap::new() };
        match pods.of_run(&self.run.dag_id, &self.run.run_id) {
            Ok(pods) => pods,
            Err(error) => {
                printer.warn(&format!("cannot list the task pods ({error}); following the run without them"));
                self.pods = None;
                BTreeMap::new()
            }
        }
    }

    /// A task instance as Airflow has it now, with its pod: its change said (a pod's too), its new
    /// log lines shown.
    fn update(
        &mut self,
        instance: TaskInstance,
        pod: Option<TaskPod>,
        printer: &mut Printer,
    ) -> Result<(), airflow::Error> {
        let key = (instance.task_id.clone(), instance.map_index);
        let changed = match self.tasks.get(&key) {
            None => {
                self.order.push(key.clone());
                true
            }
            Some(known) => {
                known.instance.state != instance.state
                    || known.instance.try_number != instance.try_number
                    || (pod.is_some() && known.pod != pod)
            }
        };
        let tracked = self.tasks.entry(key.clone()).or_insert_with(|| Tracked {
            instance: instance.clone(),
            log_try: 0,
            seen: 0,
            log_done: false,
            last: VecDeque::new(),
            pod: None,
        });
        let earlier_try = tracked.log_try;
        tracked.instance = instance;
        tracked.pod = pod;
        if changed {
            self.say_state(&key, printer);
        }
        let tracked = &self.tasks[&key];
        let (current, state) = (tracked.instance.try_number, tracked.instance.state.clone());
        if self.run.not_run.contains(&key.0) || current == 0 {
            return Ok(());
        }
        if earlier_try != current {
            // A retry began between two reads: the end of the earlier try's log first.
            if earlier_try > 0 && !tracked.log_done {
                self.read_log(&key, earlier_try, printer)?;
            }
            let tracked = self.tasks.get_mut(&key).expect("tracked above");
            (tracked.log_try, tracked.seen, tracked.log_done) = (current, 0, false);
            tracked.last.clear();
        }
        if has_log(state.as_deref()) && !self.tasks[&key].log_done {
            self.read_log(&key, current, printer)?;
            if try_over(state.as_deref()) {
                self.tasks.get_mut(&key).expect("tracked above").log_done = true;
            }
        }
        Ok(())
    }

    /// The records of one try not seen yet, shown.
    fn read_log(&mut self, key: &Key, try_number: u32, printer: &mut Printer) -> Result<(), airflow::Error> {
        let mut instance = self.tasks[key].instance.clone();
        instance.try_number = try_number;
        let records = self.client.task_log(&self.run.dag_id, &self.run.run_id, &instance)?;
        let tracked = self.tasks.get_mut(key).expect("a task being read is tracked");
        let fresh: Vec<LogRecord> = records.into_iter().skip(tracked.seen).collect();
        tracked.seen += fresh.len();
        for record in fresh.iter().filter(|r| worth_showing(r)) {
            for line in &record.lines {
                tracked.last.push_back(line.clone());
                if tracked.last.len() > LAST_LINES {
                    tracked.last.pop_front();
                }
            }
        }
        let index = self.order.iter().position(|k| k == key).unwrap_or(0);
        for record in fresh.iter().filter(|r| worth_showing(r)) {
            let shown = match printer.mode() {
                Mode::Json => log_event(key, try_number, record),
                Mode::Text | Mode::Quiet => {
                    let tag = printer.tag(&format!("{} |", name(key)), index);
                    record.lines.iter().map(|line| format!("{tag} {line}")).collect::<Vec<_>>().join("\n")
                }
            };
            if printer.mode() != Mode::Quiet {
                printer
                    .out_above_live(&shown)
                    .map_err(|e| airflow::Error::Body { what: "a log".into(), message: e.to_string() })?;
            }
        }
        Ok(())
    }

    /// A state change: a JSON event, or (in text) nothing more than the live lines redrawn.
    fn say_state(&mut self, key: &Key, printer: &mut Printer) {
        if printer.mode() == Mode::Json {
            let Tracked { instance, pod, .. } = &self.tasks[key];
            let mut event = json!({
                "event": "task",
                "task_id": instance.task_id,
                "map_index": instance.map_index,
                "state": instance.state,
                "try_number": instance.try_number,
                "start_date": instance.start_date,
                "end_date": instance.end_date,
                "duration": instance.duration,
                "not_run": self.run.not_run.contains(&key.0),
            });
            if let Some(pod) = pod {
                event["pod"] = json!(pod.name);
                event["pod_phase"] = json!(pod.phase);
                if let Some(waiting) = &pod.waiting {
                    event["pod_waiting"] = json!(waiting);
                }
            }
            let _ = printer.out(&event.to_string());
        } else {
            let lines = self.live_lines(printer);
            printer.live(&lines);
        }
    }

    fn live_lines(&self, printer: &Printer) -> Vec<String> {
        if printer.mode() == Mode::Json {
            return Vec::new();
        }
        let width = self.order.iter().map(|k| name(k).chars().count()).max().unwrap_or(0);
        self.order
            .iter()
            .map(|key| {
                let Tracked { instance, pod, .. } = &self.tasks[key];
                let line = task_line(&name(key), width, instance, self.run.not_run.contains(&key.0), printer);
                match pod {
                    Some(pod) => format!("{line}  {}", pod_part(pod)),
                    None => line,
                }
            })
            .collect()
    }

    /// The end: one line with the run's state and each task's, then the failed tasks' last lines.
    fn summary(&self, run: &DagRun, printer: &mut Printer) -> Result<(), airflow::Error> {
        let io = |e: std::io::Error| airflow::Error::Body { what: "the summary".into(), message: e.to_string() };
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for key in &self.order {
            *counts.entry(shown_state(&self.tasks[key].instance, self.run.not_run.contains(&key.0))).or_default() += 1;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        let failed: Vec<&Key> =
            self.order.iter().filter(|k| self.tasks[*k].instance.state.as_deref() == Some("failed")).collect();
        if printer.mode() == Mode::Json {
            let tasks: BTreeMap<String, String> = self
                .order
                .iter()
                .map(|k| (name(k), shown_state(&self.tasks[k].instance, self.run.not_run.contains(&k.0))))
                .collect();
            let failed: Vec<String> = failed.iter().map(|k| name(k)).collect();
            let event = json!({"event": "run", "dag_id": self.run.dag_id, "run_id": run.dag_run_id, "state": run.state,
                "start_date": run.start_date, "end_date": run.end_date, "seconds": (seconds * 10.0).round() / 10.0,
                "tasks": tasks, "failed": failed});
            return printer.out(&event.to_string()).map_err(io);
        }
        let lines = self.live_lines(printer);
        for line in &lines {
            printer.out(line).map_err(io)?;
        }
        let mark = if run.state == "success" { "✓" } else { "✗" };
        let tally: Vec<String> = counts.iter().map(|(state, n)| format!("{n} {state}")).collect();
        printer
            .out(&format!(
                "{mark} {}  {}  {} in {}  ({})",
                self.run.dag_id,
                run.dag_run_id,
                run.state,
                ui::seconds(self.started.elapsed()),
                tally.join(", ")
            ))
            .map_err(io)?;
        for key in failed {
            let tracked = &self.tasks[key];
            printer.out(&format!("  {}'s last log lines (try {}):", name(key), tracked.log_try)).map_err(io)?;
            for line in &tracked.last {
                printer.out(&format!("  {} | {line}", name(key))).map_err(io)?;
            }
        }
        Ok(())
    }
}

/// The `--json` object of one log record's lines.
fn log_event(key: &Key, try_number: u32, record: &LogRecord) -> String {
    record
        .lines
        .iter()
        .map(|line| {
            json!({"event": "log", "task_id": key.0, "map_index": key.1, "try_number": try_number,
                "timestamp": record.timestamp, "level": record.level, "logger": record.logger, "line": line})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn shown_state(instance: &TaskInstance, not_run: bool) -> String {
    match (not_run, instance.state.as_deref()) {
        (true, _) => "not run (--task)".to_string(),
        (false, Some(state)) => state.to_string(),
        (false, None) => "no state".to_string(),
    }
}

/// `✓ extract  success  try 1  2.1s`; a running task's time counts up on a terminal only (each
/// line is printed once elsewhere).
fn task_line(name: &str, width: usize, instance: &TaskInstance, not_run: bool, printer: &Printer) -> String {
    let state = shown_state(instance, not_run);
    let mark = match instance.state.as_deref() {
        _ if not_run => "-",
        Some("success") => "✓",
        Some("failed" | "upstream_failed") => "✗",
        Some("skipped" | "removed") => "-",
        Some("running" | "deferred") => "▸",
        _ => "·",
    };
    let mut line = format!("{mark} {name:<width$}  {state}");
    if instance.try_number > 0 && !not_run {
        line.push_str(&format!("  try {}", instance.try_number));
    }
    let duration = instance.duration.map(Duration::from_secs_f64).or_else(|| {
        let running = instance.state.as_deref() == Some("running") && printer.is_live();
        running.then(|| since(instance.start_date.as_deref())).flatten()
    });
    if let Some(duration) = duration.filter(|_| !not_run && instance.try_number > 0) {
        line.push_str(&format!("  {}", ui::seconds(duration)));
    }
    line
}

/// `pod etl-extract-x1y2 Running`, with why a container waits: `Pending (ImagePullBackOff)`.
fn pod_part(pod: &TaskPod) -> String {
    match &pod.waiting {
        Some(reason) => format!("pod {} {} ({reason})", pod.name, pod.phase),
        None => format!("pod {} {}", pod.name, pod.phase),
    }
}

fn since(time: Option<&str>) -> Option<Duration> {
    let started = time?.parse::<jiff::Timestamp>().ok()?;
    let elapsed = jiff::Timestamp::now().duration_since(started);
    Duration::try_from(elapsed).ok()
}

/// What `devflow run --json` prints once the run is triggered.
#[derive(Debug, Serialize)]
pub struct Triggered<'a> {
    pub event: &'static str,
    pub dag_id: &'a str,
    pub run_id: &'a str,
    pub unpaused: bool,
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(state: Option<&str>, try_number: u32, duration: Option<f64>) -> TaskInstance {
        TaskInstance {
            task_id: "extract".into(),
            map_index: -1,
            state: state.map(str::to_string),
            try_number,
            start_date: None,
            end_date: None,
            duration,
        }
    }

    #[test]
    fn a_task_line_has_its_state_try_and_time() {
        let (printer, _) = Printer::capture();
        assert_eq!(
            task_line("extract", 9, &instance(Some("success"), 1, Some(2.14)), false, &printer),
            "✓ extract    success  try 1  2.1s"
        );
        assert_eq!(task_line("extract", 7, &instance(Some("queued"), 0, None), false, &printer), "· extract  queued");
        assert_eq!(
            task_line("extract", 7, &instance(Some("success"), 0, Some(0.0)), true, &printer),
            "- extract  not run (--task)"
        );
        assert_eq!(task_line("extract", 7, &instance(None, 0, None), false, &printer), "· extract  no state");
    }

    #[test]
    fn a_task_pod_is_shown_with_its_phase_and_why_it_waits() {
        let pod = |waiting: Option<&str>| TaskPod {
            name: "etl-extract-x1y2".into(),
            phase: if waiting.is_some() { "Pending" } else { "Running" }.into(),
            waiting: waiting.map(str::to_string),
        };
        assert_eq!(pod_part(&pod(None)), "pod etl-extract-x1y2 Running");
        assert_eq!(pod_part(&pod(Some("ImagePullBackOff"))), "pod etl-extract-x1y2 Pending (ImagePullBackOff)");
    }

    #[test]
    fn airflows_bookkeeping_is_left_out_of_a_tasks_log_but_not_its_warnings() {
        let record = |logger: &str, level: &str| LogRecord {
            logger: Some(logger.into()),
            level: Some(level.into()),
            timestamp: Some("2026-12-01T15:07:58Z".into()),
            lines: vec!["x".into()],
        };
        assert!(worth_showing(&record("task.stdout", "info")));
        assert!(worth_showing(&record("etl_module", "info")));
        assert!(worth_showing(&record("airflow.task.hooks.subprocess", "info")));
        assert!(!worth_showing(&record("task", "info")));
        assert!(!worth_showing(&record("airflow.dag_processing.dagbag.BundleDagBag", "info")));
        assert!(worth_showing(&record("task", "error")));
        assert!(worth_showing(&LogRecord { lines: vec!["Airflow 2 text".into()], ..LogRecord::default() }));
    }
}
