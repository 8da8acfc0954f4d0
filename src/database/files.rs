//! The snapshots of a project's database in its state folder: `snapshots/<name>.dump` (pg_dump's
//! custom format) beside `snapshots/<name>.json` (what it is), both 0600. A dump is written under
//! a temporary name and renamed when complete, so a failed or interrupted snapshot leaves no file
//! that looks like one.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Error;

/// What `db list --json` and `db snapshot --json` print for a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub name: String,
    /// The dump file (pg_dump `--format=custom`).
    pub file: PathBuf,
    pub bytes: u64,
    /// When it was taken (RFC 3339, UTC).
    pub created: String,
    /// How long the dump took.
    pub seconds: f64,
    /// The Airflow version and chart version the environment ran when it was taken.
    pub airflow_version: String,
    pub chart_version: String,
}

/// The folder of one project's snapshots.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

const DUMP: &str = "dump";
const INFO: &str = "json";

/// A name is a file name on every system, and cannot be mistaken for a flag or a path.
pub fn check_name(name: &str) -> Result<(), Error> {
    let valid = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.ends_with(".partial");
    if valid { Ok(()) } else { Err(Error::BadName { name: name.to_string() }) }
}

/// The name of a snapshot taken now, when none is given: `snap-20261201-174512`.
pub fn default_name(now: jiff::Timestamp) -> String {
    now.strftime("snap-%Y%m%d-%H%M%S").to_string()
}

impl Snapshots {
    pub fn in_state_dir(state_dir: &Path) -> Snapshots {
        Snapshots { dir: state_dir.join("snapshots") }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{name}.{extension}"))
    }

    /// Every snapshot, oldest first; a dump without its description (taken by hand) is listed
    /// from the file alone.
    pub fn list(&self) -> Result<Vec<SnapshotInfo>, Error> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(io) => return Err(Error::Files { path: self.dir.display().to_string(), io }),
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else { continue };
            if path.extension().is_some_and(|e| e == DUMP) && check_name(name).is_ok() {
                found.push(self.info(name, &path)?);
            }
        }
        found.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
        Ok(found)
    }

    fn info(&self, name: &str, dump: &Path) -> Result<SnapshotInfo, Error> {
        let files = |io| Error::Files { path: dump.display().to_string(), io };
        let bytes = dump.metadata().map_err(files)?.len();
        let described = std::fs::read_to_string(self.file(name, INFO)).ok();
        let info = described.and_then(|text| serde_json::from_str::<SnapshotInfo>(&text).ok());
        Ok(match info {
            Some(info) => SnapshotInfo { bytes, file: dump.to_path_buf(), ..info },
            None => SnapshotInfo {
                name: name.to_string(),
                file: dump.to_path_buf(),
                bytes,
                created: String::new(),
                seconds: 0.0,
                airflow_version: String::new(),
                chart_version: String::new(),
            },
        })
    }

    /// The snapshot of that name; an unknown one is the user's mistake, named with those there are.
    pub fn find(&self, name: &str) -> Result<SnapshotInfo, Error> {
        check_name(name)?;
        let all = self.list()?;
        match all.iter().find(|s| s.name == name) {
            Some(found) => Ok(found.clone()),
            None => Err(Error::UnknownSnapshot {
                name: name.to_string(),
                near: crate::words::did_you_mean(name, all.iter().map(|s| s.name.as_str())),
                known: all.into_iter().map(|s| s.name).collect(),
            }),
        }
    }

    /// Removes a snapshot's dump and description.
    pub fn delete(&self, name: &str) -> Result<SnapshotInfo, Error> {
        let found = self.find(name)?;
        for path in [self.file(name, DUMP), self.file(name, INFO)] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Files { path: path.display().to_string(), io: e });
                }
                _ => {}
            }
        }
        Ok(found)
    }

    /// A new dump file of that name, written under a temporary name until [`Partial::keep`].
    pub fn create(&self, name: &str) -> Result<Partial, Error> {
        check_name(name)?;
        if self.file(name, DUMP).exists() {
            return Err(Error::SnapshotExists { name: name.to_string() });
        }
        let files = |path: &Path| {
            let path = path.display().to_string();
            move |io| Error::Files { path, io }
        };
        std::fs::create_dir_all(&self.dir).map_err(files(&self.dir))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).map_err(files(&self.dir))?;
        let partial = self.dir.join(format!(".{name}.{DUMP}.partial"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .map_err(files(&partial))?;
        // An existing partial file keeps the mode it had: make sure.
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(files(&partial))?;
        Ok(Partial { file: Some(file), partial, target: self.file(name, DUMP), info: self.file(name, INFO) })
    }
}

/// A dump being written. Dropped before [`Partial::keep`] (an error, Ctrl-C), it is removed.
pub struct Partial {
    file: Option<std::fs::File>,
    partial: PathBuf,
    target: PathBuf,
    info: PathBuf,
}

impl Partial {
    /// The open file, for the dump's bytes.
    pub fn take_file(&mut self) -> Option<std::fs::File> {
        self.file.take()
    }

    /// Syncs nothing more: renames the complete dump into place and writes its description.
    pub fn keep(self, info: &SnapshotInfo) -> Result<SnapshotInfo, Error> {
        let files = |path: &Path| {
            let path = path.display().to_string();
            move |io| Error::Files { path, io }
        };
        let text = serde_json::to_string_pretty(info).expect("a snapshot's description serialises");
        let info_partial = self.partial.with_extension("json.partial");
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&info_partial)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(files(&info_partial))?;
        std::fs::rename(&info_partial, &self.info).map_err(files(&self.info))?;
        std::fs::rename(&self.partial, &self.target).map_err(files(&self.target))?;
        let bytes = self.target.metadata().map_err(files(&self.target))?.len();
        Ok(SnapshotInfo { bytes, file: self.target.clone(), ..info.clone() })
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        // After `keep` the partial name is gone and this does nothing.
        let _ = std::fs::remove_file(&self.partial);
    }
}

/// A size as people read it: `12.3 MB`, `812 kB`, `532 B`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.2} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.0} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> SnapshotInfo {
        SnapshotInfo {
            name: name.into(),
            file: PathBuf::new(),
            bytes: 0,
            created: format!("2026-12-01T17:00:0{}Z", name.len()),
            seconds: 0.5,
            airflow_version: "3.2.2".into(),
            chart_version: "1.22.0".into(),
        }
    }

    #[test]
    fn a_snapshot_is_private_complete_or_absent() {
        let dir = tempfile::tempdir().unwrap();
        let snapshots = Snapshots::in_state_dir(dir.path());
        let mut partial = snapshots.create("before").unwrap();
        std::io::Write::write_all(&mut partial.take_file().unwrap(), b"PGDMP...").unwrap();
        assert!(snapshots.list().unwrap().is_empty(), "a dump being written is not a snapshot");
        let kept = partial.keep(&info("before")).unwrap();
        assert_eq!(kept.bytes, 8);
        let mode = |p: &Path| p.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&kept.file), 0o600);
        assert_eq!(mode(&dir.path().join("snapshots/before.json")), 0o600);
        assert_eq!(mode(snapshots.dir()), 0o700);
        let dropped = snapshots.create("broken").unwrap();
        drop(dropped);
        let names: Vec<String> = std::fs::read_dir(snapshots.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(snapshots.list().unwrap()[0].name, "before");
        assert!(matches!(snapshots.create("before"), Err(Error::SnapshotExists { .. })));
    }

    #[test]
    fn names_are_plain_and_unknown_ones_list_the_known() {
        for bad in ["", "../x", "-rf", "a b", ".hidden", "x.partial", &"a".repeat(65)] {
            assert!(matches!(check_name(bad), Err(Error::BadName { .. })), "{bad:?}");
        }
        check_name("before-3.3_upgrade.1").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let snapshots = Snapshots::in_state_dir(dir.path());
        snapshots.create("before").unwrap().keep(&info("before")).unwrap();
        let error = snapshots.find("befor").unwrap_err().to_string();
        assert!(error.contains("no snapshot named `befor`") && error.contains("`before`"), "{error}");
        assert_eq!(snapshots.delete("before").unwrap().name, "before");
        assert!(snapshots.list().unwrap().is_empty());
        assert_eq!(default_name("2026-12-01T17:45:12Z".parse().unwrap()), "snap-20261201-174512");
        assert_eq!(size(12_345_678), "12.3 MB");
    }
}
