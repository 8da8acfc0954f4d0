//! Everything devflow shows a person goes through one `Printer`: results on standard output,
//! notes and errors on standard error, colour only on a terminal and never with NO_COLOR.

use std::io::{self, IsTerminal, Write};

pub struct Printer {
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    color: bool,
}

const RED_BOLD: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const RESET: &str = "\x1b[0m";

impl Printer {
    pub fn terminal() -> Self {
        let color = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Printer { out: Box::new(io::stdout()), err: Box::new(io::stderr()), color }
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
        let mark = self.paint(GREEN, "✓");
        let _ = writeln!(self.err, "{mark} {text}");
    }

    pub fn note(&mut self, text: &str) {
        let label = self.paint(YELLOW, "note:");
        let _ = writeln!(self.err, "{label} {text}");
    }

    /// The one error message of a failed command: the error, then each cause on its own line.
    pub fn error(&mut self, error: &anyhow::Error) {
        let label = self.paint(RED_BOLD, "error:");
        let _ = writeln!(self.err, "{label} {error}");
        for cause in error.chain().skip(1) {
            let _ = writeln!(self.err, "  caused by: {cause}");
        }
    }
}
