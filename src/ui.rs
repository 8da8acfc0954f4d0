//! Everything devflow shows a person goes through one `Printer`: results on standard output,
//! notes and errors on standard error, colour only on a terminal and never with NO_COLOR.
//! Terminal detection, width, styling and redrawing are `console`'s.

use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use console::{Style, Term};

use crate::env::Env;
use crate::redact::Secrets;

mod json;
pub use json::refused_command_line;

pub struct Printer {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    color: bool,
    /// Standard error, when it is a terminal: live lines are redrawn in place rather than appended.
    live: Option<Term>,
    /// Live lines drawn last (on a terminal) or printed already (otherwise).
    shown: Vec<String>,
    mode: Mode,
    /// The user's secret values: nothing printed shows them.
    secrets: Arc<Secrets>,
    /// `--verbose`: every external command devflow ran is listed.
    verbose: bool,
}

/// How a command prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// For a person: text.
    #[default]
    Text,
    /// For a script: JSON (`--json`).
    Json,
    /// Only problems and summaries (`--quiet`).
    Quiet,
}

/// What a [`Printer::capture`] printer wrote: standard output and standard error.
#[cfg(test)]
#[derive(Clone, Default)]
pub struct Captured {
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

#[cfg(test)]
impl Captured {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("the capture is not poisoned")).into_owned()
    }

    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().expect("the capture is not poisoned")).into_owned()
    }
}

/// One end of a capture.
#[cfg(test)]
struct Shared(Arc<Mutex<Vec<u8>>>);

#[cfg(test)]
impl Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().map_err(|_| io::Error::other("the capture is poisoned"))?.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the programs devflow runs say while it waits for them (their progress lines), and the
/// record of each run (for `--verbose`): filled by `tool` wherever it runs, shown by the printer.
/// One for the process, as a logger is: a program runs deep below the code that holds the printer.
static FEED: Mutex<Feed> = Mutex::new(Feed { lines: Vec::new(), records: Vec::new() });

struct Feed {
    lines: Vec<String>,
    records: Vec<String>,
}

fn feed() -> std::sync::MutexGuard<'static, Feed> {
    // A panic while the lock was held leaves only lines of text behind: still fit to show.
    FEED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A progress line of a program devflow runs: the detail of the step's live line.
pub fn progress_line(line: &str) {
    /// Lines no step took (a `--json` run shows none) are kept no longer than this.
    const KEPT: usize = 100;
    let line = console::strip_ansi_codes(line).trim().to_string();
    if !line.is_empty() {
        let lines = &mut feed().lines;
        if lines.len() >= KEPT {
            lines.remove(0);
        }
        lines.push(line);
    }
}

/// The record of one program run (its command line, time and exit status), shown with `--verbose`.
pub fn record_run(record: String) {
    feed().records.push(record);
}

fn red_bold() -> Style {
    Style::new().red().bold()
}

fn yellow() -> Style {
    Style::new().yellow()
}

fn green() -> Style {
    Style::new().green()
}

impl Printer {
    /// Standard output and standard error; colour and live lines only on a terminal, never with
    /// NO_COLOR.
    pub fn terminal(env: &Env) -> Self {
        let term = Term::stderr();
        let live = term.is_term().then_some(term);
        Printer {
            out: Box::new(io::stdout()),
            err: Box::new(Term::stderr()),
            color: live.is_some() && !env.no_color,
            live,
            shown: Vec::new(),
            mode: Mode::Text,
            secrets: Arc::default(),
            verbose: false,
        }
    }

    /// A printer that keeps what it is given, for tests: no colour, no live redraw.
    #[cfg(test)]
    pub fn capture() -> (Self, Captured) {
        let captured = Captured::default();
        let printer = Printer {
            out: Box::new(Shared(captured.out.clone())),
            err: Box::new(Shared(captured.err.clone())),
            color: false,
            live: None,
            shown: Vec::new(),
            mode: Mode::Text,
            secrets: Arc::default(),
            verbose: false,
        };
        (printer, captured)
    }

    /// A printer for work done beside a command's own output (a forward, a re-run of `up` in the
    /// watch): everything on standard error, as this one would write it.
    pub fn progress(&self) -> Self {
        Printer {
            out: Box::new(Term::stderr()),
            err: Box::new(Term::stderr()),
            color: self.color,
            live: self.live.clone(),
            shown: Vec::new(),
            // Under `--json` the work beside the result reports as JSON events too.
            mode: if self.mode == Mode::Json { Mode::Json } else { Mode::Text },
            secrets: self.secrets.clone(),
            verbose: self.verbose,
        }
    }

    /// `--verbose`: list every external command devflow runs.
    pub fn set_verbose(&mut self, verbose: bool) {
        self.verbose = verbose;
    }

    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A command's result: JSON in [`Mode::Json`], else the text `text` makes of it.
    pub fn result<T: serde::Serialize>(&mut self, value: &T, text: impl FnOnce(&T) -> String) -> io::Result<()> {
        let shown = match self.mode {
            Mode::Json => serde_json::to_string_pretty(value).map_err(io::Error::other)?,
            Mode::Text | Mode::Quiet => text(value),
        };
        self.out(&shown)
    }

    /// A prefix in one of a few colours, picked by index, on a terminal; plain otherwise.
    pub fn tag(&self, text: &str, index: usize) -> String {
        const COLOURS: [console::Color; 6] = {
            use console::Color::*;
            [Cyan, Green, Magenta, Yellow, Blue, Red]
        };
        self.paint(&Style::new().fg(COLOURS[index % COLOURS.len()]), text)
    }

    /// Lines that describe work in progress (one per component, a spinner). On a terminal they
    /// replace the previous live lines; otherwise each line is printed once, when it first appears,
    /// so a log shows every change and no repetition.
    pub fn live(&mut self, lines: &[String]) {
        if self.mode == Mode::Json {
            return;
        }
        if let Some(term) = &self.live {
            // A line wider than the terminal wraps, and the redraw would erase too few rows.
            let width = usize::from(term.size().1).saturating_sub(1).max(20);
            let fitted: Vec<String> = lines.iter().map(|l| console::truncate_str(l, width, "…").into_owned()).collect();
            self.erase_live();
            for line in &fitted {
                self.err_line(line);
            }
            self.shown = fitted;
        } else {
            self.show_records();
            for line in lines {
                if !self.shown.contains(line) {
                    self.err_line(&format!("  {line}"));
                    self.shown.push(line.clone());
                }
            }
        }
        let _ = self.err.flush();
    }

    /// Whether live lines are redrawn in place (a spinner is worth drawing).
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// Erases the live lines from a terminal, and prints the records of the programs run since
    /// the last time (`--verbose`), so that they stand above what comes next.
    fn erase_live(&mut self) {
        if let Some(term) = &self.live {
            let _ = term.clear_last_lines(self.shown.len());
        }
        self.shown.clear();
        self.show_records();
    }

    /// Prints the records of the programs run since the last time with `--verbose`; forgets them
    /// otherwise.
    pub fn show_records(&mut self) {
        let records = std::mem::take(&mut feed().records);
        if self.verbose && self.mode == Mode::Json {
            return records.iter().for_each(|record| self.event("command", record));
        }
        if self.verbose {
            for record in records {
                let shown = self.paint(&Style::new().dim(), &format!("$ {record}"));
                self.err_line(&shown);
            }
        }
    }

    /// Something that went wrong but did not stop the command.
    pub fn warn(&mut self, text: &str) {
        if self.mode == Mode::Json {
            return self.event("warning", text);
        }
        self.erase_live();
        let mark = self.paint(&yellow(), "!");
        self.err_line(&format!("{mark} {text}"));
    }

    /// Asks a yes/no question on the terminal: None when there is no terminal to ask on.
    pub fn confirm(&mut self, question: &str) -> Option<bool> {
        // A script reading JSON answers no question: it says `--yes`.
        if !io::stdin().is_terminal() || self.mode == Mode::Json {
            return None;
        }
        self.erase_live();
        let _ = write!(self.err, "{} [y/N] ", self.secrets.hide(question));
        let _ = self.err.flush();
        let mut answer = String::new();
        Some(io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
    }

    /// Keeps these secret values out of everything printed from now on.
    pub fn hide(&mut self, secrets: Secrets) {
        let mut all = (*self.secrets).clone();
        all.extend(secrets);
        self.secrets = Arc::new(all);
    }

    /// One line on standard error, secrets hidden.
    fn err_line(&mut self, text: &str) {
        let _ = writeln!(self.err, "{}", self.secrets.hide(text));
    }

    fn paint(&self, style: &Style, text: &str) -> String {
        style.apply_to(text).force_styling(self.color).to_string()
    }

    /// A result: what the command was asked to print.
    pub fn out(&mut self, text: &str) -> io::Result<()> {
        self.show_records();
        let text = self.secrets.hide(text);
        self.out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }

    /// A result printed while live lines are shown (a task's log under its live line): on a
    /// terminal the live lines are erased, the text written, and the live lines drawn again below it.
    pub fn out_above_live(&mut self, text: &str) -> io::Result<()> {
        if self.live.is_none() {
            return self.out(text);
        }
        let lines = self.shown.clone();
        self.erase_live();
        self.out(text)?;
        self.live(&lines);
        Ok(())
    }

    /// Something done, on standard error so that standard output stays the result.
    pub fn done(&mut self, text: &str) {
        if self.mode == Mode::Json {
            return self.event("done", text);
        }
        self.erase_live();
        let mark = self.paint(&green(), "✓");
        self.err_line(&format!("{mark} {text}"));
    }

    pub fn note(&mut self, text: &str) {
        if self.mode == Mode::Json {
            return self.event("note", text);
        }
        self.erase_live();
        let label = self.paint(&yellow(), "note:");
        self.err_line(&format!("{label} {text}"));
    }

    /// Runs slow work under a progress line (a spinner with the time on a terminal), with the
    /// latest progress line of the program the work runs as its detail; then prints
    /// `✓ <done>  <time>` when it succeeds, or `✗ <doing>  <time>` above the error when it fails.
    pub async fn step<T, E>(
        &mut self,
        doing: &str,
        work: impl Future<Output = Result<T, E>>,
        done: impl FnOnce(&T) -> String,
    ) -> Result<T, E> {
        if self.mode == Mode::Json {
            return self.json_step(doing, work, done).await;
        }
        let started = Instant::now();
        // Lines from a program run before this step are not this step's.
        feed().lines.clear();
        let mut detail = None;
        tokio::pin!(work);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = tick.tick() => self.show_progress(Some(self.working(doing, started)), &mut detail),
            }
        };
        self.show_progress(None, &mut detail);
        match &result {
            Ok(value) => self.done(&format!("{}  {}", done(value), seconds(started.elapsed()))),
            Err(_) => self.failed(doing, started.elapsed()),
        }
        result
    }

    /// Shows a step's live line (none once it ended) with what its program said since the last
    /// time: on a terminal the latest line, as the live line's detail; otherwise each line printed
    /// once, as it came, then the records of the programs that ended.
    fn show_progress(&mut self, working: Option<String>, detail: &mut Option<String>) {
        let lines = std::mem::take(&mut feed().lines);
        if self.live.is_some() {
            *detail = lines.into_iter().last().or(detail.take());
            let mut shown = Vec::new();
            if let Some(working) = working {
                shown.push(working);
                shown.extend(detail.iter().map(|d| format!("  {d}")));
            }
            return self.live(&shown);
        }
        if let Some(working) = working {
            self.live(&[working]);
        }
        for line in lines {
            self.err_line(&format!("    {line}"));
        }
        self.show_records();
    }

    /// A step that failed after `took`: its line stays, marked, above the error that says why
    /// (under `--json`, a `failed` event).
    pub fn failed(&mut self, step: &str, took: Duration) {
        if self.mode == Mode::Json {
            let seconds = json::tenths(took);
            return self.err_json(&serde_json::json!({"event": "failed", "step": step, "seconds": seconds}));
        }
        self.erase_live();
        let mark = self.paint(&red_bold(), "✗");
        self.err_line(&format!("{mark} {step}  {}", seconds(took)));
    }

    /// The live line of work under way since `started`: a spinner and the time on a terminal,
    /// `doing …` once otherwise.
    pub fn working(&self, doing: &str, started: Instant) -> String {
        let elapsed = started.elapsed();
        if self.is_live() {
            format!("{} {doing}  {}", spinner(elapsed), seconds(elapsed))
        } else {
            format!("{doing} …")
        }
    }

    /// A spinner frame and a space on a terminal, nothing otherwise: the mark of a live line.
    pub fn spin(&self, started: Instant) -> String {
        if self.is_live() { format!("{} ", spinner(started.elapsed())) } else { String::new() }
    }

    /// The one error message of a failed command: the error, then each cause on its own line.
    pub fn error(&mut self, error: &anyhow::Error) {
        self.erase_live();
        let label = self.paint(&red_bold(), "error:");
        self.err_line(&format!("{label} {error}"));
        for cause in error.chain().skip(1) {
            self.err_line(&format!("  caused by: {cause}"));
        }
    }
}

/// A duration as people read it in a progress line: `0.4s`, `12s`, `2m05s`.
pub fn seconds(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else if secs < 60.0 {
        format!("{secs:.0}s")
    } else {
        format!("{}m{:02}s", elapsed.as_secs() / 60, elapsed.as_secs() % 60)
    }
}

/// The spinner frame for an elapsed time.
pub fn spinner(elapsed: Duration) -> char {
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    FRAMES[(elapsed.as_millis() / 100) as usize % FRAMES.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The feed of program lines is the process's: steps under test take turns.
    static ONE_STEP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test]
    async fn a_step_says_once_what_it_does_then_what_it_did() {
        let _turn = ONE_STEP_AT_A_TIME.lock().await;
        let (mut printer, captured) = Printer::capture();
        let work = async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            Ok::<_, ()>(3)
        };
        assert_eq!(printer.step("Counting", work, |n| format!("Counted {n}")).await, Ok(3));
        let err = captured.err();
        assert!(err.starts_with("  Counting …\n✓ Counted 3  0."), "{err}");
        assert_eq!(err.matches("Counting …").count(), 1, "{err}");
        assert_eq!(captured.out(), "");
    }

    #[tokio::test]
    async fn a_step_shows_its_programs_lines_and_a_failed_step_keeps_its_line_marked() {
        let _turn = ONE_STEP_AT_A_TIME.lock().await;
        let (mut printer, captured) = Printer::capture();
        printer.set_verbose(true);
        let work = async {
            progress_line(" • Ensuring node image (kindest/node:v1.34.0) 🖼  ...\n");
            tokio::time::sleep(Duration::from_millis(250)).await;
            progress_line("\x1b[32m ✓ Preparing nodes 📦\x1b[0m\n");
            record_run("kind create cluster --name dev  (0.3s, exit 1)".into());
            Err::<(), _>("no")
        };
        assert_eq!(printer.step("Creating the cluster", work, |_| "Created".into()).await, Err("no"));
        let err = captured.err();
        let expected = [
            "  Creating the cluster …",
            "    • Ensuring node image (kindest/node:v1.34.0) 🖼  ...",
            "    ✓ Preparing nodes 📦",
            "$ kind create cluster --name dev  (0.3s, exit 1)",
            "✗ Creating the cluster  0.",
        ];
        let mut rest = err.as_str();
        for line in expected {
            let at = rest.find(line).unwrap_or_else(|| panic!("`{line}` in order in:\n{err}"));
            rest = &rest[at + line.len()..];
        }
        assert!(!err.contains("Created"), "{err}");
    }

    #[tokio::test]
    async fn on_a_terminal_the_live_line_carries_the_latest_program_line_cut_to_the_width() {
        use std::io::{Read, Seek};
        let _turn = ONE_STEP_AT_A_TIME.lock().await;
        let mut screen = tempfile::tempfile().unwrap();
        let term = Term::read_write_pair(screen.try_clone().unwrap(), screen.try_clone().unwrap());
        let (mut printer, _) = Printer::capture();
        (printer.live, printer.err) = (Some(term.clone()), Box::new(term));
        let long = "x".repeat(200);
        let work = async {
            progress_line(" • Ensuring node image (kindest/node:v1.34.0) 🖼  ...");
            tokio::time::sleep(Duration::from_millis(250)).await;
            progress_line(&long);
            tokio::time::sleep(Duration::from_millis(250)).await;
            Ok::<_, ()>(())
        };
        printer.step("Creating the cluster", work, |_| "Created the cluster".into()).await.unwrap();
        let mut shown = String::new();
        screen.rewind().unwrap();
        screen.read_to_string(&mut shown).unwrap();
        assert!(shown.contains("  • Ensuring node image (kindest/node:v1.34.0) 🖼  ..."), "{shown:?}");
        // The line and its detail are erased (two rows up, each cleared) before each redraw.
        assert!(shown.contains("\x1b[2A\r\x1b[2K"), "the live lines are redrawn in place: {shown:?}");
        let cut = shown.lines().find(|l| l.contains("xxxx")).unwrap();
        // A file has no size: console's default width, 80 columns, less the last.
        assert!(console::measure_text_width(cut) < 80 && cut.ends_with('…'), "{cut:?}");
        assert!(shown.contains("✓ Created the cluster"), "{shown:?}");
    }

    #[test]
    fn a_result_is_json_in_json_mode_and_text_otherwise() {
        let (mut printer, captured) = Printer::capture();
        printer.set_mode(Mode::Json);
        printer.result(&serde_json::json!({"ok": true}), |_| "fine".into()).unwrap();
        printer.set_mode(Mode::Text);
        printer.result(&serde_json::json!({"ok": true}), |_| "fine".into()).unwrap();
        assert_eq!(captured.out(), "{\n  \"ok\": true\n}\nfine\n");
    }
}
