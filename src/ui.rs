//! Everything devflow shows a person goes through one `Printer`: results on standard output,
//! notes and errors on standard error, colour only on a terminal and never with NO_COLOR.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

pub struct Printer {
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    color: bool,
    /// Standard error is a terminal: live lines are redrawn in place rather than appended.
    live: bool,
    /// Live lines drawn last (on a terminal) or printed already (otherwise).
    shown: Vec<String>,
}

const RED_BOLD: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const RESET: &str = "\x1b[0m";

impl Printer {
    pub fn terminal() -> Self {
        let live = io::stderr().is_terminal();
        let color = live && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Printer { out: Box::new(io::stdout()), err: Box::new(io::stderr()), color, live, shown: Vec::new() }
    }

    /// A prefix in one of a few colours, picked by index, on a terminal; plain otherwise.
    pub fn tag(&self, text: &str, index: usize) -> String {
        const COLOURS: [&str; 6] = ["\x1b[36m", "\x1b[32m", "\x1b[35m", "\x1b[33m", "\x1b[34m", "\x1b[31m"];
        self.paint(COLOURS[index % COLOURS.len()], text)
    }

    /// A printer for work done beside a command's own output: everything on standard error.
    pub fn progress() -> Self {
        let mut printer = Printer::terminal();
        printer.out = Box::new(io::stderr());
        printer
    }

    /// Lines that describe work in progress (one per component, a spinner). On a terminal they
    /// replace the previous live lines; otherwise each line is printed once, when it first appears,
    /// so a log shows every change and no repetition.
    pub fn live(&mut self, lines: &[String]) {
        if self.live {
            self.erase_live();
            for line in lines {
                let _ = writeln!(self.err, "{line}");
            }
            self.shown = lines.to_vec();
        } else {
            for line in lines {
                if !self.shown.contains(line) {
                    let _ = writeln!(self.err, "  {line}");
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
        self.erase_live();
        let mark = self.paint(YELLOW, "!");
        let _ = writeln!(self.err, "{mark} {text}");
    }

    /// Asks a yes/no question on the terminal: None when there is no terminal to ask on.
    pub fn confirm(&mut self, question: &str) -> Option<bool> {
        if !io::stdin().is_terminal() {
            return None;
        }
        self.erase_live();
        let _ = write!(self.err, "{question} [y/N] ");
        let _ = self.err.flush();
        let mut answer = String::new();
        Some(io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color { format!("{style}{text}{RESET}") } else { text.to_string() }
    }

    /// A result: what the command was asked to print.
    pub fn out(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }

    /// Something done, on standard error so that standard output stays the result.
    pub fn done(&mut self, text: &str) {
        self.erase_live();
        let mark = self.paint(GREEN, "✓");
        let _ = writeln!(self.err, "{mark} {text}");
    }

    pub fn note(&mut self, text: &str) {
        self.erase_live();
        let label = self.paint(YELLOW, "note:");
        let _ = writeln!(self.err, "{label} {text}");
    }

    /// The one error message of a failed command: the error, then each cause on its own line.
    pub fn error(&mut self, error: &anyhow::Error) {
        self.erase_live();
        let label = self.paint(RED_BOLD, "error:");
        let _ = writeln!(self.err, "{label} {error}");
        for cause in error.chain().skip(1) {
            let _ = writeln!(self.err, "  caused by: {cause}");
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
