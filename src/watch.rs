//! The reload loop: file events, debounced into batches; each saved DAG file followed through
//! Airflow's API until Airflow has parsed it, then one line (or one JSON object) saying what
//! Airflow made of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::airflow::{self, Snapshot};
use crate::profile::SlowParse;
use crate::ui::{Mode, Printer};

/// Quiet time that ends a batch: an editor's rename-save and a `git checkout` of hundreds of files
/// arrive well within it.
const QUIET: Duration = Duration::from_millis(150);
/// A batch is cut after this long even if events keep coming.
const MAX_BATCH: Duration = Duration::from_secs(2);
/// How often Airflow's API is asked while files wait for their parse. Half of it is the median
/// wait between Airflow recording a parse and the question that sees it. Asking the three
/// questions together shortened the answers little (measured: batch lag median 0.22 s against
/// 0.23 s): one Python process answers them, as `[api] workers` is 1 by default (Airflow 3.3.2
/// `config_templates/config.yml`), so the interval is what is left to shorten.
const POLL: Duration = Duration::from_millis(100);
/// After this long without a parse, a file gets a line saying so and why that may be.
pub const GIVE_UP: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot watch {path}: {message}")]
    Watch { path: String, message: String },
    #[error(transparent)]
    Airflow(#[from] airflow::Error),
}

crate::error::one_kind!(Error, Environment);

// ---------------------------------------------------------------------------------------------
// Debouncing.

/// Collects file events into batches: a batch ends after [`QUIET`] without events, or
/// [`MAX_BATCH`] after it began.
#[derive(Debug, Default)]
pub struct Debouncer {
    /// Each path with the wall-clock time of its last event (the "save" time users count from).
    pending: BTreeMap<PathBuf, SystemTime>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Debouncer {
    pub fn event(&mut self, path: PathBuf, now: Instant, wall: SystemTime) {
        self.pending.insert(path, wall);
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// How long to wait for more events before the batch is due; None when nothing is pending.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        let (first, last) = (self.first?, self.last?);
        let due = (last + QUIET).min(first + MAX_BATCH);
        Some(due.saturating_duration_since(now))
    }

    /// The batch, when it is due.
    pub fn take(&mut self, now: Instant) -> Option<BTreeMap<PathBuf, SystemTime>> {
        if self.wait(now)? > Duration::ZERO {
            return None;
        }
        self.first = None;
        self.last = None;
        Some(std::mem::take(&mut self.pending))
    }
}

// ---------------------------------------------------------------------------------------------
// What a changed path is.

/// Files editors and tools write beside the real one while saving.
pub fn is_scratch(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let in_cache = path.components().any(|c| c.as_os_str() == "__pycache__" || c.as_os_str() == ".git");
    in_cache
        || name.starts_with(".#")
        || name.ends_with('~')
        || [".swp", ".swx", ".swo", ".tmp", ".pyc", ".crswap"].iter().any(|ext| name.ends_with(ext))
        || name == "4913"
        || name.contains("___jb_")
}

/// Events that change a file. Reads are not: Airflow reading a file it parses (and devflow
/// reading it for Airflow's safe-mode words) must not count as a save.
pub fn is_write(kind: &notify::EventKind) -> bool {
    use notify::EventKind::{Create, Modify, Remove};
    use notify::event::ModifyKind;
    matches!(kind, Create(_) | Remove(_) | Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any))
}

/// Files Airflow parses for DAGs.
pub fn is_dag_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("py" | "zip"))
}

/// The `.airflowignore` pattern (Airflow 3's default glob syntax, which follows .gitignore) that
/// excludes a file, looking in the file's folder and each folder above it up to the DAG folder.
pub fn ignored_by(dags: &Path, file: &Path) -> Option<String> {
    let mut dir = file.parent();
    while let Some(folder) = dir {
        let ignore_file = folder.join(".airflowignore");
        if ignore_file.is_file() {
            let mut builder = ignore::gitignore::GitignoreBuilder::new(folder);
            builder.add(&ignore_file);
            if let Ok(matcher) = builder.build()
                && let ignore::Match::Ignore(glob) = matcher.matched_path_or_any_parents(file, false)
            {
                return Some(glob.original().to_string());
            }
        }
        if folder == dags {
            break;
        }
        dir = folder.parent();
    }
    None
}

/// Airflow's safe mode skips a .py file unless both words are in it.
pub fn skipped_by_safe_mode(text: &str) -> bool {
    let lower = text.to_lowercase();
    !(lower.contains("airflow") && lower.contains("dag"))
}

// ---------------------------------------------------------------------------------------------
// Following a file until Airflow has parsed it.

/// One saved (or deleted) DAG file waiting for Airflow.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Relative to the DAG folder, with `/`.
    pub file: String,
    pub saved: SystemTime,
    pub deleted: bool,
    /// The DAG ids Airflow had for the file before the change.
    pub before: Vec<String>,
    /// Every DAG Airflow had before the change, with its file: a dag_id the file now declares
    /// that was another file's is a duplicate.
    pub owners: BTreeMap<String, String>,
}

/// What Airflow made of a file: the `--json` line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub file: String,
    pub status: Status,
    pub dags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub seconds_after_save: f64,
    /// How long Airflow's last parse of the file took (Airflow 3's `last_parse_duration`, the
    /// longest of the file's DAGs; queueing included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_seconds: Option<f64>,
    /// What else Airflow knows about the file: a dag_id another file defines too, a slow parse,
    /// Airflow's DAG warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// An import error Airflow had when the watch began (there is no save to count from).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub before_watch: bool,
}

impl Report {
    fn new(file: &str, status: Status) -> Report {
        Report {
            file: file.to_string(),
            status,
            dags: Vec::new(),
            error: None,
            line: None,
            seconds_after_save: 0.0,
            parse_seconds: None,
            warnings: Vec::new(),
            before_watch: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Parsed,
    Error,
    Removed,
    NotParsed,
}

/// Whether the API's path for a file (relative on Airflow 3, as Airflow sees it on Airflow 2)
/// names this file of the DAG folder.
pub fn same_file(api_path: &str, file: &str) -> bool {
    api_path == file || api_path.ends_with(&format!("/{file}"))
}

fn parsed_at(time: &str) -> Option<SystemTime> {
    time.parse::<jiff::Timestamp>().ok().map(SystemTime::from)
}

/// The DAG ids the snapshot has for a file.
pub fn dags_of(snapshot: &Snapshot, file: &str) -> Vec<String> {
    let mut ids: Vec<String> = snapshot
        .dags
        .iter()
        .filter(|d| d.file().is_some_and(|p| same_file(p, file)))
        .map(|d| d.dag_id.clone())
        .collect();
    ids.sort();
    ids
}

/// The report for a pending file if the snapshot shows Airflow has dealt with it since the save.
pub fn resolve(pending: &Pending, snapshot: &Snapshot, now: SystemTime, slow: SlowParse) -> Option<Report> {
    let after_save = |t: &Option<String>| t.as_deref().and_then(parsed_at).is_some_and(|t| t >= pending.saved);
    let report = |status, dags, error: Option<(String, Option<u32>)>| Report {
        dags,
        line: error.as_ref().and_then(|(_, line)| *line),
        error: error.map(|(message, _)| message),
        seconds_after_save: seconds(now.duration_since(pending.saved).unwrap_or_default()),
        ..Report::new(&pending.file, status)
    };
    let error = snapshot.errors.iter().find(|e| same_file(&e.filename, &pending.file));
    let dags = dags_of(snapshot, &pending.file);
    if pending.deleted {
        return (dags.is_empty() && error.is_none()).then(|| report(Status::Removed, pending.before.clone(), None));
    }
    if let Some(error) = error.filter(|e| after_save(&Some(e.timestamp.clone()))) {
        return Some(report(
            Status::Error,
            Vec::new(),
            Some(airflow::describe_error(&error.stack_trace, &pending.file)),
        ));
    }
    let fresh: Vec<String> = snapshot
        .dags
        .iter()
        .filter(|d| d.file().is_some_and(|p| same_file(p, &pending.file)) && after_save(&d.last_parsed_time))
        .map(|d| d.dag_id.clone())
        .collect();
    (!fresh.is_empty() && error.is_none()).then(|| {
        let mut fresh = fresh;
        fresh.sort();
        let parse = snapshot
            .dags
            .iter()
            .filter(|d| fresh.contains(&d.dag_id))
            .filter_map(|d| d.last_parse_duration)
            .fold(None, |longest: Option<f64>, d| Some(longest.map_or(d, |l| l.max(d))));
        let mut report = report(Status::Parsed, fresh, None);
        report.parse_seconds = parse.map(|p| (p * 100.0).round() / 100.0);
        if let Some(parse) = parse.filter(|p| *p > slow.seconds) {
            report.warnings.push(format!(
                "slow: the parse took {parse:.1} s (over the profile's {} s): top-level code runs at every parse; Airflow gives up on the file at {} s ([core] dagbag_import_timeout)",
                slow.seconds, slow.import_timeout
            ));
        }
        report
    })
}

/// A parsed file's DAGs that Airflow had in another file before the save, which still exists:
/// two files declare the same dag_id. Airflow raises no error and no warning for it; the DAG's
/// file is whichever was parsed last (measured on Airflow 3.2.2, FACTS.md).
pub fn duplicates(report: &Report, pending: &Pending, dags: &Path, shown_root: &str) -> Vec<String> {
    report
        .dags
        .iter()
        .filter_map(|id| {
            let other = pending.owners.get(id).filter(|other| !same_file(other, &report.file))?;
            dags.join(other).is_file().then(|| {
                format!(
                    "duplicate: `{id}` is also defined in {shown_root}{other}; Airflow keeps the one it parsed last and will keep switching between the two files"
                )
            })
        })
        .collect()
}

fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

/// One line for a person: `✓ dags/etl.py  etl_daily, etl_hourly  0.9 s after save`.
pub fn line(report: &Report, shown_root: &str) -> String {
    let mut line = first_line(report, shown_root);
    for warning in &report.warnings {
        line.push_str(&format!("\n  ! {warning}"));
    }
    line
}

fn first_line(report: &Report, shown_root: &str) -> String {
    let file = format!("{shown_root}{}", report.file);
    let after = match (report.before_watch, report.parse_seconds) {
        (true, _) => "(before the watch began)".to_string(),
        (false, Some(parse)) => format!("parse {parse:.1} s, {:.1} s after save", report.seconds_after_save),
        (false, None) => format!("{:.1} s after save", report.seconds_after_save),
    };
    match report.status {
        Status::Parsed => format!("✓ {file}  {}  {after}", report.dags.join(", ")),
        Status::Error => {
            let line = report.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            format!("✗ {file}  {}{line}  {after}", report.error.as_deref().unwrap_or_default())
        }
        Status::Removed if report.dags.is_empty() => format!("- {file}  removed"),
        Status::Removed => format!("- {file}  removed: {} gone", report.dags.join(", ")),
        Status::NotParsed => format!("? {file}  {}", report.error.as_deref().unwrap_or_default()),
    }
}

// ---------------------------------------------------------------------------------------------
// The loop.

/// What a change to other project files sets off (a restart, a rebuild), with its own progress.
pub type Action = Box<dyn FnMut(&mut Printer) -> anyhow::Result<()>>;

/// Files (or folders) whose change sets off an action.
pub struct Hook {
    pub paths: Vec<PathBuf>,
    /// What changed and what happens now: `plugins changed (…): restarting …`.
    pub what: &'static str,
    pub doing: &'static str,
    pub done: &'static str,
    pub action: Action,
}

impl Hook {
    fn matches(&self, path: &Path) -> bool {
        self.paths.iter().any(|p| path.starts_with(p))
    }
}

pub struct Settings {
    pub url: String,
    pub user: String,
    pub password: String,
    pub dags: PathBuf,
    /// How file names are shown: the DAG folder relative to where devflow runs, e.g. `dags/`.
    pub shown_root: String,
    /// Other files that set off actions (this project's Airflow only).
    pub hooks: Vec<Hook>,
    /// Copies the DAG folder to where Airflow reads it, when Airflow cannot see this machine's
    /// folder (push delivery): before changed files are followed, and every few seconds so that
    /// a restarted receiver is filled again.
    pub push: Option<Action>,
    /// When a parse is flagged as slow (the profile's threshold, Airflow's limit).
    pub slow_parse: SlowParse,
}

/// How often the push runs when nothing changed, to notice a receiver that restarted.
const PUSH_CHECK: Duration = Duration::from_secs(5);

/// How often the loop looks at its stop flag while nothing happens.
const IDLE: Duration = Duration::from_millis(250);

/// A file event: the path, and when it happened (the loop's clock and the wall clock).
type Event = (PathBuf, Instant, SystemTime);

/// Watches the DAG folder until `stop` is set (by Ctrl-C).
pub fn run(settings: &mut Settings, printer: &mut Printer, stop: &AtomicBool) -> Result<(), Error> {
    let client = airflow::Client::connect(&settings.url, &settings.user, &settings.password)?;
    let (_watcher, events) = watch_files(settings)?;
    let mut watch = Loop {
        known: Snapshot::default(),
        client,
        waiting: Vec::new(),
        batch: Vec::new(),
        batch_started: None,
        unreachable_since: None,
    };
    watch.known = watch.client.snapshot()?;
    if printer.mode() != Mode::Json {
        printer.done(&format!(
            "Watching {} for Airflow {} at {} ({} DAGs, {} import errors now); Ctrl-C stops",
            settings.shown_root.trim_end_matches('/'),
            watch.client.version,
            settings.url,
            watch.known.dags.len(),
            watch.known.errors.len()
        ));
    }
    watch.at_start(settings, printer);
    let mut debouncer = Debouncer::default();
    let mut pushed_at = Instant::now();
    // Airflow is asked on its own clock: events (Airflow's bytecode as it parses, an editor's
    // scratch files) never postpone it, and ignored ones never reach the debouncer.
    let mut next_follow = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let follow_in = if watch.waiting.is_empty() { IDLE } else { next_follow.saturating_duration_since(now) };
        let timeout = debouncer.wait(now).map_or(follow_in, |d| d.min(follow_in));
        match events.recv_timeout(timeout) {
            Ok((path, at, wall)) if !is_scratch(&path) => debouncer.event(path, at, wall),
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
        let changed = debouncer.take(Instant::now());
        let dags_changed = changed.as_ref().is_some_and(|c| c.keys().any(|path| path.starts_with(&settings.dags)));
        if let Some(push) = settings.push.as_mut()
            && (dags_changed || pushed_at.elapsed() >= PUSH_CHECK)
        {
            if let Err(e) = push(printer) {
                printer.warn(&format!("{e:#}"));
            }
            pushed_at = Instant::now();
        }
        let dispatched = changed.is_some();
        if let Some(changed) = changed {
            watch.dispatch(settings, printer, changed);
        }
        if dispatched || Instant::now() >= next_follow {
            // Counted from when the question is asked, so the time Airflow takes to answer (a
            // busy api-server during a batch) does not add to the next wait.
            next_follow = Instant::now() + POLL;
            watch.follow(settings, printer);
        }
    }
    Ok(())
}

/// The DAG folder (recursively) and each hook's files (a file through its folder, as editors
/// replace files by rename), their write events sent on the channel while the watcher lives.
fn watch_files(settings: &Settings) -> Result<(notify::RecommendedWatcher, mpsc::Receiver<Event>), Error> {
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Some(event) = event.ok().filter(|e| is_write(&e.kind)) {
            for path in event.paths {
                let _ = tx.send((path, Instant::now(), SystemTime::now()));
            }
        }
    })
    .map_err(|e| Error::Watch { path: settings.dags.display().to_string(), message: e.to_string() })?;
    let mut watched = vec![(settings.dags.clone(), notify::RecursiveMode::Recursive)];
    for path in settings.hooks.iter().flat_map(|h| h.paths.iter()) {
        let entry = match (path.is_dir(), path.parent()) {
            (true, _) => (path.clone(), notify::RecursiveMode::Recursive),
            (false, Some(folder)) => (folder.to_path_buf(), notify::RecursiveMode::NonRecursive),
            (false, None) => continue,
        };
        if entry.0.is_dir() && !watched.iter().any(|(p, _)| p == &entry.0) {
            watched.push(entry);
        }
    }
    for (folder, mode) in &watched {
        notify::Watcher::watch(&mut watcher, folder, *mode)
            .map_err(|e| Error::Watch { path: folder.display().to_string(), message: e.to_string() })?;
    }
    Ok((watcher, rx))
}

/// What the loop knows between batches: Airflow's last answer and the files still waiting for it.
struct Loop {
    client: airflow::Client,
    known: Snapshot,
    waiting: Vec<Pending>,
    /// The reports of the files changed together, for the summary when the last is resolved.
    batch: Vec<Report>,
    /// The earliest save of the batch: its total runs from there to the last report.
    batch_started: Option<SystemTime>,
    /// Since when Airflow has not answered, and why: said once when it stops, once when it is back.
    unreachable_since: Option<(Instant, String)>,
}

impl Loop {
    /// A batch of changes: each hook whose files changed runs once; each DAG file is followed.
    fn dispatch(&mut self, settings: &mut Settings, printer: &mut Printer, changed: BTreeMap<PathBuf, SystemTime>) {
        let mut fired: Vec<Vec<PathBuf>> = settings.hooks.iter().map(|_| Vec::new()).collect();
        let mut reparse = Vec::new();
        for (path, saved) in changed {
            if let Some(at) = settings.hooks.iter().position(|h| h.matches(&path)) {
                fired[at].push(path);
            } else if path.starts_with(&settings.dags) {
                if is_dag_file(&path) {
                    self.batch_started = Some(self.batch_started.map_or(saved, |started| started.min(saved)));
                }
                if let Some(report) = track(settings, &mut reparse, &self.known, &path, saved, &mut self.waiting) {
                    emit(settings, printer, &report);
                    self.batch.push(report);
                }
            }
        }
        self.client.reparse_all(&reparse);
        if self.waiting.is_empty() {
            // Nothing to wait for (every file said at once): the next batch starts afresh.
            self.batch.clear();
            self.batch_started = None;
        }
        for (hook, paths) in settings.hooks.iter_mut().zip(fired).filter(|(_, paths)| !paths.is_empty()) {
            let names: Vec<String> =
                paths.iter().map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
            printer.note(&format!("{} changed ({}): {}", hook.what, names.join(", "), hook.doing));
            match (hook.action)(printer) {
                Ok(()) => printer.done(hook.done),
                Err(e) => printer.warn(&format!("{e:#}")),
            }
        }
    }

    /// Asks Airflow about the files still waiting, and reports each it has dealt with (or gave up
    /// on); the batch's summary once none is left.
    fn follow(&mut self, settings: &Settings, printer: &mut Printer) {
        if self.waiting.is_empty() {
            return;
        }
        let snapshot = match self.client.snapshot() {
            Ok(snapshot) => snapshot,
            Err(e) => {
                // Said once, and again only when Airflow's answer changes (down, then refusing).
                let why = e.to_string().lines().next().unwrap_or_default().to_string();
                if self.unreachable_since.as_ref().is_none_or(|(_, said)| said != &why) {
                    printer.warn(&format!(
                        "Airflow at {} does not answer ({why}): waiting for it, the changed files stay followed",
                        settings.url
                    ));
                    let since = self.unreachable_since.take().map_or_else(Instant::now, |(since, _)| since);
                    self.unreachable_since = Some((since, why));
                }
                std::thread::sleep(Duration::from_secs(1));
                return;
            }
        };
        if let Some((since, _)) = self.unreachable_since.take() {
            printer.done(&format!(
                "Airflow at {} answers again (after {:.0} s)",
                settings.url,
                since.elapsed().as_secs_f64()
            ));
        }
        let now = SystemTime::now();
        let mut processor = None;
        let mut still = Vec::new();
        for pending in self.waiting.drain(..) {
            let report = resolve(&pending, &snapshot, now, settings.slow_parse).or_else(|| {
                let elapsed = now.duration_since(pending.saved).unwrap_or_default();
                (elapsed >= GIVE_UP).then(|| {
                    let healthy = *processor.get_or_insert_with(|| self.client.processor_healthy());
                    not_parsed(&pending, elapsed, healthy)
                })
            });
            match report {
                Some(mut report) => {
                    if report.status == Status::Parsed {
                        report.warnings.extend(duplicates(&report, &pending, &settings.dags, &settings.shown_root));
                        report.warnings.extend(warnings_for(&snapshot.warnings, &report.dags));
                    }
                    emit(settings, printer, &report);
                    self.batch.push(report);
                }
                None => still.push(pending),
            }
        }
        self.waiting = still;
        self.known = snapshot;
        if self.waiting.is_empty() {
            let total = self.batch_started.take().and_then(|first| SystemTime::now().duration_since(first).ok());
            if self.batch.len() > 1 && printer.mode() != Mode::Json {
                printer.note(&summary(&self.batch, total.unwrap_or_default()));
            }
            self.batch.clear();
        }
    }
}

/// Airflow's DAG warnings (none when Airflow could not say) for these DAGs.
fn warnings_for(warnings: &[(String, String)], dags: &[String]) -> Vec<String> {
    warnings.iter().filter(|(id, _)| dags.contains(id)).map(|(id, text)| format!("`{id}`: {text}")).collect()
}

impl Loop {
    /// What Airflow knows at the start: the import errors it has now, file by file, and a DAG
    /// folder none of whose files Airflow knows while it has DAGs elsewhere.
    fn at_start(&self, settings: &Settings, printer: &mut Printer) {
        for error in &self.known.errors {
            let file = relative(&error.filename, &settings.dags);
            let (message, line) = airflow::describe_error(&error.stack_trace, &file);
            let report = Report { error: Some(message), line, before_watch: true, ..Report::new(&file, Status::Error) };
            emit(settings, printer, &report);
        }
        if let Some(folder) = wrong_folder(&self.known, &settings.dags) {
            printer.warn(&format!(
                "Airflow has {} DAGs, none from a file in {}: Airflow reads {folder}\n  pass the folder Airflow reads (as this machine sees it) with --dags",
                self.known.dags.len(),
                settings.dags.display()
            ));
        }
    }
}

/// An import error's file relative to the DAG folder: Airflow 3 gives it so; Airflow 2 gives the
/// path as Airflow sees it.
fn relative(filename: &str, dags: &Path) -> String {
    Path::new(filename)
        .strip_prefix(dags)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| filename.to_string())
}

/// The folder Airflow reads, when Airflow has DAGs and none of their files is in `dags`
/// (Airflow 3, whose DAGs have a file relative to the folder as well as the full path).
pub fn wrong_folder(snapshot: &Snapshot, dags: &Path) -> Option<String> {
    let mut located =
        snapshot.dags.iter().filter_map(|d| Some((d.relative_fileloc.as_deref()?, d.fileloc.as_deref()?)));
    let (relative, full) = located.next()?;
    let anywhere_here =
        snapshot.dags.iter().filter_map(|d| d.relative_fileloc.as_deref()).any(|f| dags.join(f).is_file());
    if anywhere_here {
        return None;
    }
    Some(full.strip_suffix(relative).unwrap_or(full).trim_end_matches('/').to_string())
}

/// Starts following a changed path; a report at once when Airflow will never parse it.
fn track(
    settings: &Settings,
    reparse: &mut Vec<String>,
    known: &Snapshot,
    path: &Path,
    saved: SystemTime,
    waiting: &mut Vec<Pending>,
) -> Option<Report> {
    if !is_dag_file(path) || path.is_dir() {
        return None;
    }
    let file = path.strip_prefix(&settings.dags).ok()?.to_string_lossy().replace('\\', "/");
    let deleted = !path.exists();
    let not_parsed = |reason: String| Report { error: Some(reason), ..Report::new(&file, Status::NotParsed) };
    if !deleted {
        if let Some(pattern) = ignored_by(&settings.dags, path) {
            return Some(not_parsed(format!("ignored: .airflowignore has `{pattern}`")));
        }
        let is_py = path.extension().is_some_and(|e| e == "py");
        if is_py && std::fs::read_to_string(path).is_ok_and(|text| skipped_by_safe_mode(&text)) {
            return Some(not_parsed(
                "skipped: Airflow parses only files with both `airflow` and `dag` in them (dag_discovery_safe_mode)"
                    .into(),
            ));
        }
    }
    // Airflow lists a file it already has DAGs for only every few seconds: ask for it now.
    let token =
        known.dags.iter().find(|d| d.file().is_some_and(|p| same_file(p, &file))).and_then(|d| d.file_token.clone());
    if let (false, Some(token)) = (deleted, token) {
        reparse.push(token);
    }
    waiting.retain(|p| p.file != file);
    let owners = known.dags.iter().filter_map(|d| Some((d.dag_id.clone(), d.file()?.to_string()))).collect();
    waiting.push(Pending { before: dags_of(known, &file), file, saved, deleted, owners });
    None
}

fn not_parsed(pending: &Pending, elapsed: Duration, processor_healthy: Option<bool>) -> Report {
    let why = match processor_healthy {
        Some(false) => "the dag-processor is not healthy (`devflow logs dag-processor` shows why)".to_string(),
        _ => "it may define no DAG at module level, or take longer to import than this wait; Airflow reports nothing for a file without DAGs".to_string(),
    };
    Report {
        error: Some(format!("not parsed {} s after save: {why}", elapsed.as_secs())),
        seconds_after_save: seconds(elapsed),
        ..Report::new(&pending.file, Status::NotParsed)
    }
}

fn emit(settings: &Settings, printer: &mut Printer, report: &Report) {
    let text = match printer.mode() {
        Mode::Json => serde_json::to_string(report).expect("a report serialises"),
        Mode::Quiet if matches!(report.status, Status::Parsed | Status::Removed) => return,
        Mode::Text | Mode::Quiet => line(report, &settings.shown_root),
    };
    let _ = printer.out(&text);
}

/// `3 files: 2 parsed, 1 with errors; all reported 1.6 s after the first save (slowest file 1.4 s)`:
/// the batch's total, from its first save to its last report.
pub fn summary(batch: &[Report], total: Duration) -> String {
    let count = |status| batch.iter().filter(|r| r.status == status).count();
    let mut parts = vec![format!("{} parsed", count(Status::Parsed))];
    for (status, word) in
        [(Status::Error, "with errors"), (Status::Removed, "removed"), (Status::NotParsed, "not parsed")]
    {
        if count(status) > 0 {
            parts.push(format!("{} {word}", count(status)));
        }
    }
    let slowest = batch.iter().map(|r| r.seconds_after_save).fold(0.0, f64::max);
    format!(
        "{} files: {}; all reported {:.1} s after the first save (slowest file {slowest:.1} s)",
        batch.len(),
        parts.join(", "),
        seconds(total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airflow::{Dag, ImportError};

    fn at(ms: u64) -> Instant {
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    #[test]
    fn a_rename_save_is_one_change_and_a_checkout_is_one_batch() {
        let mut d = Debouncer::default();
        let wall = SystemTime::now();
        // vim: write 4913, write .etl.py.swp, rename etl.py~ , write etl.py.
        for (ms, name) in [(0, "4913"), (1, ".etl.py.swp"), (2, "etl.py~"), (3, "etl.py"), (4, "etl.py")] {
            let path = PathBuf::from(name);
            if !is_scratch(&path) {
                d.event(path, at(ms), wall);
            }
        }
        assert_eq!(d.take(at(100)), None, "not quiet for long enough yet");
        let batch = d.take(at(200)).unwrap();
        assert_eq!(batch.keys().collect::<Vec<_>>(), [&PathBuf::from("etl.py")]);

        // 300 files, one every 5 ms: one batch, cut at MAX_BATCH at the latest.
        for i in 0..300 {
            d.event(PathBuf::from(format!("f{i}.py")), at(1000 + i * 5), wall);
        }
        assert_eq!(d.wait(at(2495)), Some(QUIET));
        assert_eq!(d.take(at(2495 + 150)).unwrap().len(), 300);
        assert_eq!(d.wait(at(5000)), None);
    }

    #[test]
    fn scratch_files_and_caches_are_not_changes() {
        for path in [
            "dags/.#etl.py",
            "dags/etl.py~",
            "dags/__pycache__/etl.cpython-311.pyc",
            "dags/etl.py___jb_tmp___",
            "dags/.etl.py.swp",
        ] {
            assert!(is_scratch(Path::new(path)), "{path}");
        }
        assert!(!is_scratch(Path::new("dags/etl.py")));
        assert!(is_dag_file(Path::new("dags/etl.py")) && !is_dag_file(Path::new("dags/README.md")));
        use notify::event::{AccessKind, CreateKind, DataChange, EventKind, ModifyKind, RenameMode};
        assert!(!is_write(&EventKind::Access(AccessKind::Any)), "Airflow reading a file is not a save");
        assert!(is_write(&EventKind::Create(CreateKind::File)));
        assert!(is_write(&EventKind::Modify(ModifyKind::Data(DataChange::Content))));
        assert!(is_write(&EventKind::Modify(ModifyKind::Name(RenameMode::To))));
        assert!(skipped_by_safe_mode("print('hello')") && !skipped_by_safe_mode("from airflow.sdk import DAG"));
    }

    #[test]
    fn airflowignore_follows_gitignore_globs_from_each_folder_up() {
        let dir = tempfile::tempdir().unwrap();
        let dags = dir.path();
        std::fs::create_dir_all(dags.join("team/scratch")).unwrap();
        std::fs::write(dags.join(".airflowignore"), "# comment\n*_test.py\nscratch/\n").unwrap();
        std::fs::write(dags.join("team/.airflowignore"), "old_*.py\n").unwrap();
        assert_eq!(ignored_by(dags, &dags.join("etl_test.py")).as_deref(), Some("*_test.py"));
        assert_eq!(ignored_by(dags, &dags.join("team/scratch/x.py")).as_deref(), Some("scratch/"));
        assert_eq!(ignored_by(dags, &dags.join("team/old_etl.py")).as_deref(), Some("old_*.py"));
        assert_eq!(ignored_by(dags, &dags.join("team/etl.py")), None);
    }

    fn dag(id: &str, file: &str, parsed: &str) -> Dag {
        Dag {
            dag_id: id.into(),
            relative_fileloc: None,
            fileloc: Some(file.into()),
            file_token: Some("t".into()),
            last_parsed_time: Some(parsed.into()),
            last_parse_duration: None,
        }
    }

    fn saved(file: &str, deleted: bool, before: &[&str]) -> Pending {
        let saved = SystemTime::from("2026-11-24T10:00:00Z".parse::<jiff::Timestamp>().unwrap());
        let before = before.iter().map(|s| s.to_string()).collect();
        Pending { file: file.into(), saved, deleted, before, owners: BTreeMap::new() }
    }

    #[test]
    fn a_file_is_resolved_only_by_what_airflow_did_after_the_save() {
        let now = SystemTime::from("2026-11-24T10:00:01.2Z".parse::<jiff::Timestamp>().unwrap());
        let old = Snapshot { dags: vec![dag("etl_daily", "etl.py", "2026-11-24T09:59:00Z")], ..Snapshot::default() };
        let pending = saved("etl.py", false, &["etl_daily"]);
        assert_eq!(
            resolve(&pending, &old, now, SlowParse::default()),
            None,
            "a parse from before the save says nothing"
        );

        let new = Snapshot {
            dags: vec![
                dag("etl_daily", "etl.py", "2026-11-24T10:00:00.9Z"),
                dag("etl_hourly", "etl.py", "2026-11-24T10:00:00.9Z"),
                dag("other", "x/etl.py.bak", "2026-11-24T10:00:00.9Z"),
            ],
            ..Snapshot::default()
        };
        let report = resolve(&pending, &new, now, SlowParse::default()).unwrap();
        assert_eq!(
            (report.status, report.dags.clone(), report.seconds_after_save),
            (Status::Parsed, vec!["etl_daily".to_string(), "etl_hourly".to_string()], 1.2)
        );
        assert_eq!(line(&report, "dags/"), "✓ dags/etl.py  etl_daily, etl_hourly  1.2 s after save");

        let broken = Snapshot {
            dags: new.dags.clone(),
            errors: vec![ImportError {
                filename: "etl.py".into(),
                timestamp: "2026-11-24T10:00:00.5Z".into(),
                stack_trace: "  File \"/opt/airflow/dags/etl.py\", line 3, in <module>\nModuleNotFoundError: No module named 'foo'\n".into(),
            }],
            ..Snapshot::default()
        };
        let report = resolve(&pending, &broken, now, SlowParse::default()).unwrap();
        assert_eq!(
            line(&report, "dags/"),
            "✗ dags/etl.py  ModuleNotFoundError: No module named 'foo' (line 3)  1.2 s after save"
        );

        let gone = saved("etl.py", true, &["etl_daily", "etl_hourly"]);
        assert_eq!(resolve(&gone, &new, now, SlowParse::default()), None, "its DAGs are still listed");
        let report = resolve(&gone, &Snapshot::default(), now, SlowParse::default()).unwrap();
        assert_eq!(line(&report, "dags/"), "- dags/etl.py  removed: etl_daily, etl_hourly gone");

        // Airflow 2 lists where it sees the file.
        let v1 = Snapshot {
            dags: vec![dag("etl_daily", "/opt/airflow/dags/etl.py", "2026-11-24T10:00:01Z")],
            ..Snapshot::default()
        };
        assert_eq!(resolve(&pending, &v1, now, SlowParse::default()).unwrap().status, Status::Parsed);
    }

    #[test]
    fn the_summary_counts_each_outcome() {
        let report = |status, s| Report { seconds_after_save: s, ..Report::new("f", status) };
        let batch = [report(Status::Parsed, 0.8), report(Status::Parsed, 1.4), report(Status::Error, 1.1)];
        assert_eq!(
            summary(&batch, Duration::from_millis(1620)),
            "3 files: 2 parsed, 1 with errors; all reported 1.6 s after the first save (slowest file 1.4 s)"
        );
    }

    #[test]
    fn a_parse_time_is_given_and_flagged_when_slow() {
        let now = SystemTime::from("2026-11-24T10:00:03Z".parse::<jiff::Timestamp>().unwrap());
        let mut parsed = dag("etl_daily", "etl.py", "2026-11-24T10:00:02Z");
        parsed.last_parse_duration = Some(2.54);
        let snapshot = Snapshot { dags: vec![parsed], ..Snapshot::default() };
        let report = resolve(&saved("etl.py", false, &[]), &snapshot, now, SlowParse::default()).unwrap();
        assert_eq!(report.parse_seconds, Some(2.54));
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(
            report.warnings[0],
            "slow: the parse took 2.5 s (over the profile's 2 s): top-level code runs at every parse; Airflow gives up on the file at 30 s ([core] dagbag_import_timeout)"
        );
        assert_eq!(
            line(&report, "dags/").lines().next().unwrap(),
            "✓ dags/etl.py  etl_daily  parse 2.5 s, 3.0 s after save"
        );
        // The profile's threshold and the values' limit, not fixed ones.
        let lenient = SlowParse { seconds: 5.0, import_timeout: 60.0 };
        assert!(resolve(&saved("etl.py", false, &[]), &snapshot, now, lenient).unwrap().warnings.is_empty());
        let strict = SlowParse { seconds: 0.5, import_timeout: 12.5 };
        let report = resolve(&saved("etl.py", false, &[]), &snapshot, now, strict).unwrap();
        assert!(report.warnings[0].contains("over the profile's 0.5 s") && report.warnings[0].contains("at 12.5 s"));
    }

    #[test]
    fn a_dag_id_another_existing_file_had_is_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("first.py"), "x").unwrap();
        let mut pending = saved("second.py", false, &[]);
        pending.owners =
            [("shared".to_string(), "first.py".to_string()), ("gone".to_string(), "deleted.py".to_string())].into();
        let report = Report {
            dags: vec!["shared".into(), "gone".into(), "own".into()],
            ..Report::new("second.py", Status::Parsed)
        };
        assert_eq!(
            duplicates(&report, &pending, dir.path(), "dags/"),
            [
                "duplicate: `shared` is also defined in dags/first.py; Airflow keeps the one it parsed last and will keep switching between the two files"
            ]
        );
    }

    #[test]
    fn a_folder_none_of_whose_files_airflow_knows_is_named_with_the_one_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut elsewhere = dag("etl", "/opt/airflow/dags/team/etl.py", "2026-11-24T10:00:00Z");
        elsewhere.relative_fileloc = Some("team/etl.py".into());
        let snapshot = Snapshot { dags: vec![elsewhere], ..Snapshot::default() };
        assert_eq!(wrong_folder(&snapshot, dir.path()).as_deref(), Some("/opt/airflow/dags"));
        std::fs::create_dir(dir.path().join("team")).unwrap();
        std::fs::write(dir.path().join("team/etl.py"), "x").unwrap();
        assert_eq!(wrong_folder(&snapshot, dir.path()), None);
        assert_eq!(wrong_folder(&Snapshot::default(), dir.path()), None, "an Airflow without DAGs says nothing");
    }
}
