//! Profiles: named sets of chart values for a laptop. The built-in ones are the YAML files in
//! `profiles/`, compiled into the binary; a user's own file can `extends:` one of them (or another
//! file) and change what it needs.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::values::{self, Value};

/// The built-in profiles, in the order `--help` and messages list them. A name starting with `_`
/// is a part the others extend, not a profile to choose.
pub const BUILT_IN: [(&str, &str); 5] = [
    ("_base", include_str!("../profiles/_base.yaml")),
    ("local", include_str!("../profiles/local.yaml")),
    ("celery", include_str!("../profiles/celery.yaml")),
    ("kubernetes", include_str!("../profiles/kubernetes.yaml")),
    ("airflow2", include_str!("../profiles/airflow2.yaml")),
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "unknown profile `{name}`{near}\n  expected one of the built-in profiles ({}) or a path to a profile YAML file",
        built_in_names()
    )]
    Unknown { name: String, near: String },
    #[error("profile `{}` extends itself: {}\n  remove one `extends:` to break the cycle", chain[0], chain.join(" → "))]
    Cycle { chain: Vec<String> },
    #[error(
        "cannot read profile file {path}: {io}\n  check the path: a profile file is YAML, relative to devflow.toml (or to where you run devflow, for --profile)"
    )]
    Read { path: String, io: std::io::Error },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

crate::error::one_kind!(Error, Input);

/// Which profile a project asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileRef {
    BuiltIn(String),
    File(PathBuf),
}

impl ProfileRef {
    /// A name with a `/` or a YAML extension is a file, relative to `base`; anything else a built-in.
    pub fn new(name: &str, base: &Path) -> Self {
        if name.contains('/') || name.ends_with(".yaml") || name.ends_with(".yml") {
            ProfileRef::File(base.join(name))
        } else {
            ProfileRef::BuiltIn(name.to_string())
        }
    }

    fn label(&self) -> String {
        match self {
            ProfileRef::BuiltIn(name) => name.clone(),
            ProfileRef::File(path) => path.display().to_string(),
        }
    }
}

/// What Docker must give the cluster for a profile to run well.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Needs {
    pub memory_gib: u32,
    pub cpus: u32,
}

/// What the profile's watch says of a parse (the profile's `watch:`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchFile {
    pub slow_parse_seconds: f64,
}

/// When the watch flags a parse as slow: over the profile's threshold, and how far from Airflow's
/// hard limit, `[core] dagbag_import_timeout` (30 s by default, Airflow's
/// `config_templates/config.yml`), after which Airflow gives up on the file.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SlowParse {
    pub seconds: f64,
    pub import_timeout: f64,
}

impl Default for SlowParse {
    /// Against an Airflow that is not the project's (`--airflow-url`): the built-in profiles' 2 s
    /// and Airflow's default limit.
    fn default() -> SlowParse {
        SlowParse { seconds: 2.0, import_timeout: 30.0 }
    }
}

/// A profile with its `extends:` chain applied.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The name asked for, then each profile it extends.
    pub chain: Vec<String>,
    pub description: String,
    pub needs: Needs,
    /// A parse slower than this many seconds is flagged by the watch.
    pub slow_parse_seconds: f64,
    /// Chart values that decide behaviour (executor, Airflow version): production values win over them.
    pub defaults: Value,
    /// Chart values that size Airflow for a laptop: they win over production values.
    pub laptop: Value,
}

impl Profile {
    pub fn name(&self) -> &str {
        &self.chain[0]
    }

    /// The Airflow major version the profile is written for, from its `airflowVersion` default.
    pub fn airflow_major(&self) -> u32 {
        values::get(&self.defaults, &values::Path::from_keys(["airflowVersion"]))
            .and_then(Value::as_str)
            .and_then(crate::version::parse)
            .map_or(3, |(major, _, _)| major)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    description: Option<String>,
    extends: Option<String>,
    needs: Option<Needs>,
    watch: Option<WatchFile>,
    #[serde(default)]
    defaults: Value,
    #[serde(default)]
    laptop: Value,
}

/// The built-in profiles a user can choose.
pub fn choosable() -> impl Iterator<Item = &'static str> {
    BUILT_IN.iter().map(|(name, _)| *name).filter(|name| !name.starts_with('_'))
}

pub fn built_in_names() -> String {
    choosable().collect::<Vec<_>>().join(", ")
}

pub fn load(reference: &ProfileRef) -> Result<Profile, Error> {
    let mut seen: Vec<ProfileRef> = Vec::new();
    let mut files = Vec::new();
    let mut next = Some(reference.clone());
    while let Some(current) = next.take() {
        if seen.contains(&current) {
            let mut chain: Vec<String> = seen.iter().map(ProfileRef::label).collect();
            chain.push(current.label());
            return Err(Error::Cycle { chain });
        }
        let file = read(&current)?;
        next = file.extends.as_deref().map(|parent| match &current {
            ProfileRef::File(path) => ProfileRef::new(parent, path.parent().unwrap_or(Path::new("."))),
            ProfileRef::BuiltIn(_) => ProfileRef::BuiltIn(parent.to_string()),
        });
        seen.push(current);
        files.push(file);
    }

    // The most basic profile first, so each one that extends it is merged over it.
    let mut profile = Profile {
        chain: seen.iter().map(ProfileRef::label).collect(),
        description: String::new(),
        needs: Needs { memory_gib: 4, cpus: 2 },
        slow_parse_seconds: SlowParse::default().seconds,
        defaults: Value::Object(values::Map::new()),
        laptop: Value::Object(values::Map::new()),
    };
    for file in files.into_iter().rev() {
        if let Some(description) = file.description {
            profile.description = description;
        }
        if let Some(needs) = file.needs {
            profile.needs = needs;
        }
        if let Some(watch) = file.watch {
            profile.slow_parse_seconds = watch.slow_parse_seconds;
        }
        values::merge(&mut profile.defaults, &file.defaults);
        values::merge(&mut profile.laptop, &file.laptop);
    }
    Ok(profile)
}

fn read(reference: &ProfileRef) -> Result<ProfileFile, Error> {
    let (origin, text) = match reference {
        ProfileRef::BuiltIn(name) => match BUILT_IN.iter().find(|(n, _)| n == name) {
            Some((_, text)) => (format!("profiles/{name}.yaml (built in)"), (*text).to_string()),
            None => {
                let near = crate::words::did_you_mean(name, choosable());
                return Err(Error::Unknown { name: name.clone(), near });
            }
        },
        ProfileRef::File(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|io| Error::Read { path: path.display().to_string(), io })?;
            (path.display().to_string(), text)
        }
    };
    let value = values::from_yaml_str(&text).map_err(|e| Error::Invalid {
        origin: located(&origin, e.location),
        message: format!("this is not YAML: {}", e.message),
    })?;
    let file: ProfileFile = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let line = (!path.is_empty())
            .then(|| values::line_of(&text, &path.split('.').map(str::to_string).collect::<Vec<_>>()))
            .flatten();
        Error::Invalid {
            origin: located(&origin, line.map(|l| (l, 1))),
            message: format!(
                "{}\n  a profile has the keys description, extends, needs (memory_gib, cpus), watch (slow_parse_seconds), defaults and laptop (chart values)",
                crate::words::describe_serde_error(&path, &e.inner().to_string())
            ),
        }
    })?;
    check_chart_keys(&file, &origin, &text)?;
    Ok(file)
}

/// A profile's `defaults` and `laptop` are chart values: a key the chart does not know is the
/// profile's mistake (with its line), not a bug in devflow's values.
fn check_chart_keys(file: &ProfileFile, origin: &str, text: &str) -> Result<(), Error> {
    for (section, values) in [("defaults", &file.defaults), ("laptop", &file.laptop)] {
        let Some((path, known)) = crate::schemas::chart().unknown_key(values) else { continue };
        let near = crate::words::did_you_mean(path.last().expect("a key"), known.iter().map(String::as_str));
        let mut written = vec![section.to_string()];
        written.extend(path.iter().cloned());
        return Err(Error::Invalid {
            origin: located(origin, values::line_of(text, &written).map(|l| (l, 1))),
            message: format!(
                "`{section}.{}` is not a value the Airflow chart 1.22.0 knows{near}\n  `{section}:` holds chart values; fix the key or remove it",
                path.join(".")
            ),
        });
    }
    Ok(())
}

fn located(origin: &str, location: Option<(usize, usize)>) -> String {
    match location {
        Some((line, column)) => format!("{origin}:{line}:{column}"),
        None => origin.to_string(),
    }
}
