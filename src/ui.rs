//! Everything devflow shows a person goes through one `Printer`: results on standard output,
//! notes and errors on standard error, colour only on a terminal and never with NO_COLOR.

use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
#[cfg(test)]
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::env::Env;
use crate::redact::Secrets;

mod json;
pub use json::refused_command_line;

pub struct Printer {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    color: bool,
    /// Standard error is a terminal: live lines are redrawn in place rather than appended.
    live: bool,
    /// Live lines drawn last (on a terminal) or printed already (otherwise).
    shown: Vec<String>,
    mode: Mode,
    /// The user's secret values: nothing printed shows them.
    secrets: Arc<Secrets>,
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

const RED_BOLD: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const RESET: &str = "\x1b[0m";

impl Printer {
    /// Standard output and standard error; colour and live lines only on a terminal, never with
    /// NO_COLOR.
    pub fn terminal(env: &Env) -> Self {
        let live = io::stderr().is_terminal();
        let color = live && !env.no_color;
        Printer {
            out: Box::new(io::stdout()),
            err: Box::new(io::stderr()),
            color,
            live,
            shown: Vec::new(),
            mode: Mode::Text,
            secrets: Arc::default(),
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
            live: false,
            shown: Vec::new(),
            mode: Mode::Text,
            secrets: Arc::default(),
        };
        (printer, captured)
    }

    /// A printer for work done beside a command's own output (a forward, a re-run of `up` in the
    /// watch): everything on standard error, as this one would write it.
    pub fn progress(&self) -> Self {
        Printer {
            out: Box::new(io::stderr()),
            err: Box::new(io::stderr()),
            color: self.color,
            live: self.live,
            shown: Vec::new(),
            // Under `--json` the work beside the result reports as JSON events too.
            mode: if self.mode == Mode::Json { Mode::Json } else { Mode::Text },
            secrets: self.secrets.clone(),
        }
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
        const COLOURS: [&str; 6] = ["\x1b[36m", "\x1b[32m", "\x1b[35m", "\x1b[33m", "\x1b[34m", "\x1b[31m"];
        self.paint(COLOURS[index % COLOURS.len()], text)
    }

    /// Lines that describe work in progress (one per component, a spinner). On a terminal they
    /// replace the previous live lines; otherwise each line is printed once, when it first appears,
    /// so a log shows every change and no repetition.
    pub fn live(&mut self, lines: &[String]) {
        if self.mode == Mode::Json {
            return;
        }
        if self.live {
            self.erase_live();
            for line in lines {
                self.err_line(line);
            }
            self.shown = lines.to_vec();
        } else {
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
        self.live
    }

    fn erase_live(&mut self) {
        if self.live {
            for _ in 0..self.shown.len() {
                let _ = write!(self.err, "\x1b[1A\x1b[2K");
            }
        }
        self.shown.clear();
    }

    /// Something that went wrong but did not stop the command.
    pub fn warn(&mut self, text: &str) {
        if self.mode == Mode::Json {
            return self.event("warning", text);
        }
        self.erase_live();
        let mark = self.paint(YELLOW, "!");
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

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color { format!("{style}{text}{RESET}") } else { text.to_string() }
    }

    /// A result: what the command was asked to print.
    pub fn out(&mut self, text: &str) -> io::Result<()> {
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
        if !self.live {
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
        let mark = self.paint(GREEN, "✓");
        self.err_line(&format!("{mark} {text}"));
    }

    pub fn note(&mut self, text: &str) {
        if self.mode == Mode::Json {
            return self.event("note", text);
        }
        self.erase_live();
        let label = self.paint(YELLOW, "note:");
        self.err_line(&format!("{label} {text}"));
    }

    /// Runs slow work under a progress line (a spinner with the time on a terminal), then prints
    /// `✓ <done>  <time>` when it succeeds.
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
        tokio::pin!(work);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = tick.tick() => {
                    let line = self.working(doing, started);
                    self.live(&[line]);
                }
            }
        };
        self.live(&[]);
        if let Ok(value) = &result {
            self.done(&format!("{}  {}", done(value), seconds(started.elapsed())));
        }
        result
    }

    /// The live line of work under way since `started`: a spinner and the time on a terminal,
    /// `doing …` once otherwise.
    pub fn working(&self, doing: &str, started: Instant) -> String {
        let elapsed = started.elapsed();
        if self.live { format!("{} {doing}  {}", spinner(elapsed), seconds(elapsed)) } else { format!("{doing} …") }
    }

    /// A spinner frame and a space on a terminal, nothing otherwise: the mark of a live line.
    pub fn spin(&self, started: Instant) -> String {
        if self.live { format!("{} ", spinner(started.elapsed())) } else { String::new() }
    }

    /// The one error message of a failed command: the error, then each cause on its own line.
    pub fn error(&mut self, error: &anyhow::Error) {
        self.erase_live();
        let label = self.paint(RED_BOLD, "error:");
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

/// The terminal on standard input, in raw mode while this lives: keys go to the remote shell as
/// they are typed, and only the remote terminal echoes them.
pub struct RawTerminal {
    original: libc::termios,
}

impl RawTerminal {
    /// None when standard input is not a terminal.
    pub fn enable() -> Option<RawTerminal> {
        // SAFETY: tcgetattr/tcsetattr only read and write the termios given, for fd 0.
        unsafe {
            let mut termios: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut termios) != 0 {
                return None;
            }
            let original = termios;
            libc::cfmakeraw(&mut termios);
            (libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &termios) == 0).then_some(RawTerminal { original })
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enable`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.original);
        }
    }
}

/// The size of the terminal on standard output: (columns, rows).
pub fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills the winsize given.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_col > 0)
            .then_some((size.ws_col, size.ws_row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_says_once_what_it_does_then_what_it_did() {
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
