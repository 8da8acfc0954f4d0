//! An external tool's command line as the plan holds it: complete, argv and standard input, so that
//! what `--dry-run` prints is what runs.

use std::fmt;

use serde::Serialize;

/// Stands in a command line for the image devflow builds: its tag is the digest of its files,
/// known once they are read.
pub const IMAGE: &str = "<image>";

/// An external tool's command line as it runs: `argv[0]` is the tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Command {
    pub argv: Vec<String>,
    /// What is written to its standard input, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Stdin>,
}

/// What a command reads on its standard input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stdin {
    /// The kind or k3d config (`devflow render --only cluster`), as YAML.
    ClusterConfig,
}

impl Stdin {
    pub fn described(self) -> &'static str {
        match self {
            Stdin::ClusterConfig => "the cluster config (devflow render --only cluster)",
        }
    }
}

impl Serialize for Stdin {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.described())
    }
}

impl Command {
    pub fn new<'a>(tool: &'a str, args: impl IntoIterator<Item = &'a str>) -> Command {
        let argv = std::iter::once(tool).chain(args).map(str::to_string).collect();
        Command { argv, stdin: None }
    }

    pub fn reading(mut self, stdin: Stdin) -> Command {
        self.stdin = Some(stdin);
        self
    }

    /// The arguments after the tool's name.
    pub fn args(&self) -> Vec<&str> {
        self.argv[1..].iter().map(String::as_str).collect()
    }

    /// The command with the built image's tag where it says [`IMAGE`].
    pub fn with_image(&self, tag: &str) -> Command {
        let argv = self.argv.iter().map(|word| if word == IMAGE { tag.to_string() } else { word.clone() }).collect();
        Command { argv, stdin: self.stdin }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "$ {}", shell_words(&self.argv))?;
        match self.stdin {
            Some(stdin) => write!(f, " < {}", stdin.described()),
            None => Ok(()),
        }
    }
}

/// A command line as a person would type it: words with spaces or quotes are single-quoted.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|word| {
            if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c)) {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
