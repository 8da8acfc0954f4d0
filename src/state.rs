//! devflow's state folder for one project: what `up` has made (so a second `up` does nothing and
//! `down` knows what to remove), the generated secrets and the files handed to the tools. Every
//! write is atomic (a temporary file renamed into place), so Ctrl-C never leaves half a file.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Provider, StateDir, StateFile};
use crate::plan::{self, Plan};
use crate::values::{self, Value};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write {path}: {io}")]
    Write { path: String, io: std::io::Error },
    #[error("cannot read {path}: {io}")]
    Read { path: String, io: std::io::Error },
    #[error(
        "{path} is damaged ({message})\n  if no cluster of this project is running, remove the folder; otherwise `devflow down` after fixing or removing the file"
    )]
    Damaged { path: String, message: String },
}

crate::error::one_kind!(Error, Environment);

/// What `up` has done so far. A phase is recorded when it starts and when it ends, so that after
/// an interruption the next `up` knows what may be half-made.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub project_root: PathBuf,
    pub provider: Option<Provider>,
    pub cluster_name: String,
    pub context: String,
    pub cluster: Phase,
    pub manifests: Phase,
    pub release: Phase,
    /// Set by `stop`, cleared by `start` and `up`.
    #[serde(default)]
    pub stopped: bool,
    /// Docker images devflow built for this project, removed by `down`.
    #[serde(default)]
    pub images: Vec<String>,
    /// The image the release runs, once built and loaded into the cluster.
    #[serde(default)]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Phase {
    #[default]
    NotStarted,
    /// Begun and not known to have finished: the object may exist half-made.
    Started {
        digest: String,
    },
    Done {
        digest: String,
    },
}

/// The phases of `up` that are recorded as started and done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    Cluster,
    Manifests,
    Release,
}

impl State {
    pub fn phase_mut(&mut self, phase: Guarded) -> &mut Phase {
        match phase {
            Guarded::Cluster => &mut self.cluster,
            Guarded::Manifests => &mut self.manifests,
            Guarded::Release => &mut self.release,
        }
    }
}

impl Phase {
    pub fn is_done_with(&self, digest: &str) -> bool {
        matches!(self, Phase::Done { digest: d } if d == digest)
    }

    pub fn was_touched(&self) -> bool {
        !matches!(self, Phase::NotStarted)
    }
}

/// The state folder of one project, read and written.
#[derive(Debug, Clone)]
pub struct Store {
    dir: StateDir,
}

impl Store {
    pub fn new(dir: StateDir) -> Store {
        Store { dir }
    }

    /// Every state folder under `base` (devflow's state home) with what its `up` recorded, by
    /// folder name; a folder without a state file (made by `render`'s planning only) is left out.
    pub fn all(base: &Path) -> Result<Vec<(Store, State)>, Error> {
        let entries = match std::fs::read_dir(base) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(io) => return Err(Error::Read { path: base.display().to_string(), io }),
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let store = Store::new(StateDir::at(entry.path()));
                if let Some(state) = store.load()? {
                    found.push((store, state));
                }
            }
        }
        found.sort_by(|a, b| a.0.dir().cmp(b.0.dir()));
        Ok(found)
    }

    pub fn dir(&self) -> &Path {
        self.dir.dir()
    }

    pub fn path(&self, file: StateFile) -> PathBuf {
        self.dir.file(file)
    }

    pub fn load(&self) -> Result<Option<State>, Error> {
        self.read_json(StateFile::State)
    }

    pub fn read_json<T: serde::de::DeserializeOwned>(&self, file: StateFile) -> Result<Option<T>, Error> {
        let path = self.path(file);
        let Some(text) = read_optional(&path)? else { return Ok(None) };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Damaged { path: path.display().to_string(), message: e.to_string() })
    }

    pub fn save(&self, state: &State) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(state).expect("the state serialises");
        self.write(StateFile::State, text.as_bytes(), 0o600)
    }

    /// Writes a file of the state folder atomically with the given mode.
    pub fn write(&self, file: StateFile, bytes: &[u8], mode: u32) -> Result<(), Error> {
        let error = |path: &Path, io| Error::Write { path: path.display().to_string(), io };
        let dir = self.dir();
        std::fs::create_dir_all(dir).map_err(|e| error(dir, e))?;
        // The folder holds secrets: only its owner may list it.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| error(dir, e))?;
        let target = self.path(file);
        let partial = dir.join(format!(".{}.partial", file.name()));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&partial)
            .map_err(|e| error(&partial, e))?;
        std::io::Write::write_all(&mut out, bytes).map_err(|e| error(&partial, e))?;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(mode)).map_err(|e| error(&partial, e))?;
        std::fs::rename(&partial, &target).map_err(|e| error(&target, e))
    }

    /// The secrets `up` generated for this project, generating any the plan needs and lacks.
    pub fn secrets(&self, plan: &Plan) -> Result<Secrets, Error> {
        let mut secrets = self.read_secrets()?.unwrap_or_default();
        let mut added = false;
        for key in &plan.generated_secrets {
            if !secrets.0.contains_key(key) {
                secrets
                    .0
                    .insert(key.clone(), generate(key).map_err(|io| Error::Read { path: "/dev/urandom".into(), io })?);
                added = true;
            }
        }
        if added {
            self.write(StateFile::Secrets, serde_json::to_string_pretty(&secrets).unwrap().as_bytes(), 0o600)?;
        }
        Ok(secrets)
    }

    /// The secrets generated so far, if any; never generates one.
    pub fn read_secrets(&self) -> Result<Option<Secrets>, Error> {
        self.read_json(StateFile::Secrets)
    }

    /// Removes one file of the folder; one already gone is not an error.
    pub fn remove_file(&self, file: StateFile) -> Result<(), Error> {
        let path = self.path(file);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::Write { path: path.display().to_string(), io: e })
            }
            _ => Ok(()),
        }
    }

    pub fn remove(&self) -> Result<(), Error> {
        match std::fs::remove_dir_all(self.dir()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::Write { path: self.dir().display().to_string(), io: e })
            }
            _ => Ok(()),
        }
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(io) => Err(Error::Read { path: path.display().to_string(), io }),
    }
}

/// Generated secrets by chart values key (`fernetKey`, `data.metadataConnection.pass`, …).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Secrets(BTreeMap<String, String>);

impl Secrets {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn admin_password(&self) -> Option<&str> {
        self.get(plan::ADMIN_PASSWORD_KEY)
    }

    /// The values with every `<generated>` placeholder the plan lists replaced by its secret.
    pub fn fill_values(&self, plan: &Plan) -> Value {
        let mut filled = plan.values.clone();
        for key in &plan.generated_secrets {
            let path = values::Path::parse(key).expect("the plan's secret keys parse");
            let placeholder = values::get(&filled, &path).and_then(Value::as_str) == Some(plan::GENERATED);
            if let (true, Some(secret)) = (placeholder, self.get(key)) {
                values::set(&mut filled, &path, Value::String(secret.to_string()));
            }
        }
        filled
    }

    /// devflow's manifests with the database password in place.
    pub fn fill_manifests(&self, plan: &Plan) -> Vec<Value> {
        let password = self.get(plan::DATABASE_PASSWORD_KEY).unwrap_or_default();
        plan.manifests
            .iter()
            .map(|object| {
                let mut object = object.clone();
                if let Some(slot) = object.pointer_mut("/stringData/password")
                    && slot == plan::GENERATED
                {
                    *slot = Value::String(password.to_string());
                }
                if object["metadata"]["name"] == plan::names::ENV_SECRET
                    && let Some(data) = object["stringData"].as_object_mut()
                {
                    for (name, slot) in data.iter_mut() {
                        *slot = Value::String(plan.env.get(name).cloned().unwrap_or_default());
                    }
                }
                if object.pointer("/metadata/annotations/devflow.io~1stand-in").is_some() {
                    object = plan::standins::fill(&object, &plan.stand_in_values);
                }
                object
            })
            .collect()
    }
}

/// A Fernet key is 32 random bytes in URL-safe base64; every other secret is 32 letters and digits.
fn generate(key: &str) -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    if key == "fernetKey" {
        use base64::Engine;
        return Ok(base64::engine::general_purpose::URL_SAFE.encode(bytes));
    }
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    Ok(bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect())
}

/// A short, stable digest of anything serialisable: what a phase was done with.
pub fn digest(value: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(value).expect("plan parts serialise");
    Sha256::digest(&bytes).iter().take(12).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fernet_keys_are_url_safe_base64_of_32_bytes() {
        use base64::Engine;
        let key = generate("fernetKey").unwrap();
        assert_eq!(base64::engine::general_purpose::URL_SAFE.decode(&key).unwrap().len(), 32);
        let password = generate("createUserJob.defaultUser.password").unwrap();
        assert_eq!(password.len(), 32);
        assert!(password.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn writes_are_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Store::new(StateDir::of(dir.path(), Path::new("/p"), "p"));
        let state = State { cluster_name: "x".into(), ..State::default() };
        folder.save(&state).unwrap();
        assert_eq!(folder.load().unwrap(), Some(state));
        let mode = |p: &Path| p.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&folder.path(StateFile::State)), 0o600);
        assert_eq!(mode(folder.dir()), 0o700);
        assert!(
            std::fs::read_dir(folder.dir()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".partial"))
        );
        std::fs::write(folder.path(StateFile::State), "{").unwrap();
        assert!(matches!(folder.load(), Err(Error::Damaged { .. })));
    }
}
