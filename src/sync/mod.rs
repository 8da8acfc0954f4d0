//! DAG push-sync, the planning half: what to send from the local DAG folder to the DAG volume in
//! the cluster, as data for the executor to run. Nothing here starts a process or opens a socket;
//! the only side effects are reads of the DAG folder.
//!
//! One push, as the executor runs it:
//! 1. After the receiving pod (re)starts, nothing is known about the volume: run
//!    [`list_command`] in the pod, [`parse_listing`] its stdout, and take [`Tree::listing`] of the
//!    result as the remote tree. After a successful push, the remote tree is the local tree that
//!    was pushed.
//! 2. [`scan`] the DAG folder (passing the previous scan, so only changed files are hashed),
//!    [`diff`] it against the remote tree, build the [`archive`] of the uploads, and run each argv
//!    of [`receive_commands`] in the pod, in order, the archive on the last one's stdin.
//! 3. [`Error::Changed`] from `archive` means the folder moved under the scan: scan again. A failed
//!    exec leaves the volume unknown: the next push starts again at step 1.
//!
//! What reaches the volume: regular files only, with modes 0644 or 0755, under folders that are
//! real (never symlinks). A symlink in the DAG folder that stays inside it is sent as what it
//! points to; the receiver removes every symlink it finds in the volume before it writes or
//! deletes anything, so nothing can be written or deleted outside the volume through one.
//!
//! `push` carries it out through the cluster's exec.

pub mod push;

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the DAG folder {}: {source}", path.display())]
    Root { path: PathBuf, source: io::Error },
    /// The DAG folder changed between the scan and the archive: scan again.
    #[error("{path} changed after the DAG folder was scanned ({why}); scan again")]
    Changed { path: RelPath, why: &'static str },
    #[error("cannot read {path}: {source}")]
    Read { path: RelPath, source: io::Error },
    /// A path handed to [`archive`] that the scan did not find: a bug in the caller.
    #[error("{path} is not in the scanned tree")]
    NotScanned { path: RelPath },
    #[error("cannot add {what} to the archive: {source}")]
    Archive { what: String, source: io::Error },
    #[error(
        "the DAG volume holds `{entry}`, which devflow cannot delete or replace ({why}); remove it from the volume by hand"
    )]
    Listing { entry: String, why: &'static str },
}

impl crate::error::Kind for Error {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            Error::NotScanned { .. } => crate::error::ErrorKind::Bug,
            _ => crate::error::ErrorKind::Environment,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Paths.

/// A path relative to the DAG folder, checked by [`check`] where it is made (only [`scan`] and
/// [`parse_listing`] make them): `/`-separated UTF-8 names, none of them empty, `.` or `..`, and
/// no control characters (a newline would break line-based tools and messages; NUL cannot be in
/// a file name). Joined to any folder, it stays inside it, which is what makes the archive and
/// the receiver's argv safe whatever the disk held.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

impl RelPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folders the path is in, outermost first: `a/b/c.py` → `a`, `a/b`.
    fn parents(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(|(at, _)| &self.0[..at])
    }
}

/// Why a path is not a [`RelPath`], if it is not.
fn check(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("it is empty");
    }
    if path.starts_with('/') {
        return Err("it is absolute");
    }
    if path.chars().any(char::is_control) {
        return Err("it has a control character (such as a newline) in its name");
    }
    for name in path.split('/') {
        match name {
            "" => return Err("it has an empty name in it (`//` or a trailing `/`)"),
            "." | ".." => return Err("it has a `.` or `..` in it"),
            _ => {}
        }
    }
    Ok(())
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lets a tree be looked up with a plain `&str`.
impl Borrow<str> for RelPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A name as it can be shown on one line: bytes that are not UTF-8 as U+FFFD, control characters
/// escaped (`\n`, `\u{1b}`).
fn shown(name: &OsStr) -> String {
    let mut out = String::new();
    for c in name.to_string_lossy().chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The manifest.

/// The regular files of a DAG folder (or what is known of the volume's), by relative path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub files: BTreeMap<RelPath, Entry>,
    /// When the scan that made this tree began, in ns since the epoch; None for a listing.
    scanned: Option<i128>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub size: u64,
    /// Modification time in ns since the epoch.
    pub modified: i128,
    /// The owner-executable bit; the file is sent as 0755 if set, 0644 if not.
    pub executable: bool,
    /// SHA-256 of the content; None when only the name is known (a [`Tree::listing`]).
    pub hash: Option<[u8; 32]>,
}

impl Tree {
    /// The volume as a plain listing of its files shows it: names without contents, so [`diff`]
    /// uploads every local file and deletes every other one (a full resync).
    pub fn listing(paths: impl IntoIterator<Item = RelPath>) -> Tree {
        let unknown = Entry { size: 0, modified: 0, executable: false, hash: None };
        Tree { files: paths.into_iter().map(|path| (path, unknown)).collect(), scanned: None }
    }
}

/// A scan's result: the tree, and what was found but is not sent.
#[derive(Debug)]
pub struct Scan {
    pub tree: Tree,
    /// Things the user may expect to be sent but are not, with why. Files excluded on purpose
    /// (by `.airflowignore` or `.gitignore`, `.git/`, `__pycache__/`, `*.pyc`) are not listed.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Relative to the DAG folder, shown on one line (see [`shown`]).
    pub path: String,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Not UTF-8, or a control character in it: neither tar, the receiver's argv nor Airflow's
    /// messages would carry it faithfully.
    BadName(&'static str),
    /// A symlink whose target is outside the DAG folder, which the pod could not see either.
    OutsideRoot(PathBuf),
    Dangling,
    /// A symlink that leads back to a folder it is in, or to itself.
    Loop,
    /// A FIFO, socket or device.
    NotAFile,
    Unreadable(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::BadName(why) => write!(f, "{why}"),
            Reason::OutsideRoot(target) => {
                write!(f, "symlink to {}, outside the DAG folder; copy the file in instead", target.display())
            }
            Reason::Dangling => write!(f, "symlink to nothing"),
            Reason::Loop => write!(f, "symlink loop"),
            Reason::NotAFile => write!(f, "not a regular file"),
            Reason::Unreadable(why) => write!(f, "cannot read it: {why}"),
        }
    }
}

/// A file written this close to (or after) the previous scan's start may have changed again
/// within the same mtime tick without changing its size (ext4 stamps files from a clock that moves
/// in ms ticks; FAT and HFS+ keep whole or even seconds), so its hash is not trusted from that scan.
const RACY_NS: i128 = 2_000_000_000;

/// Walks the DAG folder at `root`. A file whose size and mtime are those in `previous` keeps its
/// hash from there; every other file is read and hashed.
pub fn scan(root: &Path, previous: Option<&Tree>) -> Result<Scan, Error> {
    let started = now_ns();
    let base = fs::canonicalize(root).map_err(|source| Error::Root { path: root.to_path_buf(), source })?;
    let mut walk = Walk {
        previous: previous.map(|tree| &tree.files),
        trusted_before: previous.and_then(|tree| tree.scanned).map(|at| at - RACY_NS),
        ancestors: vec![base.clone()],
        base: &base,
        rules: Vec::new(),
        files: BTreeMap::new(),
        skipped: Vec::new(),
        buf: vec![0; 64 * 1024],
    };
    walk.dir(&base, "").map_err(|source| Error::Root { path: root.to_path_buf(), source })?;
    Ok(Scan { tree: Tree { files: walk.files, scanned: Some(started) }, skipped: walk.skipped })
}

fn now_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// `ELOOP`, for which std has no stable `ErrorKind` yet.
#[cfg(target_os = "linux")]
const ELOOP: i32 = 40;
#[cfg(not(target_os = "linux"))]
const ELOOP: i32 = 62;

struct Walk<'a> {
    /// The DAG folder, canonical: symlinks must resolve inside it.
    base: &'a Path,
    previous: Option<&'a BTreeMap<RelPath, Entry>>,
    /// A previous hash is trusted only for files last modified before this (see [`RACY_NS`]).
    trusted_before: Option<i128>,
    /// The canonical folders the walk is in, the root first: a symlink to one of them is a loop.
    ancestors: Vec<PathBuf>,
    /// The ignore files of each folder the walk is in, the root first.
    rules: Vec<Rules>,
    files: BTreeMap<RelPath, Entry>,
    skipped: Vec<Skipped>,
    buf: Vec<u8>,
}

/// One folder's ignore files. Both follow gitignore: a pattern applies to its folder and below, a
/// deeper file's pattern (`!keep.py` too) overrides a shallower one's.
struct Rules {
    airflow: Option<Gitignore>,
    git: Option<Gitignore>,
}

/// What a directory entry is, symlinks followed.
enum Found {
    File(fs::Metadata),
    /// With its canonical path, for loop detection.
    Dir(PathBuf),
    Other,
}

impl Walk<'_> {
    /// Reads one folder. `path` is where it is on disk through its logical names (so through any
    /// symlinks on the way), `rel` its path from the root, "" for the root itself: files are
    /// named, and ignore patterns matched, by where Airflow will see them in the volume.
    fn dir(&mut self, path: &Path, rel: &str) -> io::Result<()> {
        let mut entries = fs::read_dir(path)?.collect::<io::Result<Vec<_>>>()?;
        entries.sort_by_key(|entry| entry.file_name());
        let has = |name: &str| entries.iter().any(|entry| entry.file_name() == name);
        let rules = Rules {
            airflow: has(".airflowignore").then(|| matcher(path, ".airflowignore")).flatten(),
            git: has(".gitignore").then(|| matcher(path, ".gitignore")).flatten(),
        };
        self.rules.push(rules);
        for entry in &entries {
            self.entry(path, rel, entry);
        }
        self.rules.pop();
        Ok(())
    }

    fn entry(&mut self, dir: &Path, rel_dir: &str, entry: &fs::DirEntry) {
        let name = entry.file_name();
        // Git's own data, and Python's caches (the pod's Python writes its own).
        if name == ".git" || name == "__pycache__" {
            return;
        }
        let path = dir.join(&name);
        let found = self.resolve(&path, entry);
        let is_dir = matches!(found, Ok(Found::Dir(_)));
        if self.ignored(&path, is_dir) || (!is_dir && name.as_bytes().ends_with(b".pyc")) {
            return;
        }
        let join = |name: &str| if rel_dir.is_empty() { name.to_owned() } else { format!("{rel_dir}/{name}") };
        let rel = match name.to_str() {
            Some(utf8) => {
                let rel = join(utf8);
                check(&rel).map(|()| RelPath(rel))
            }
            None => Err("its name is not UTF-8"),
        };
        let rel = match rel {
            Ok(rel) => rel,
            Err(why) => return self.skip(join(&shown(&name)), Reason::BadName(why)),
        };
        match found {
            Err(reason) => self.skip(rel.0, reason),
            Ok(Found::Other) => self.skip(rel.0, Reason::NotAFile),
            Ok(Found::File(meta)) => self.file(&path, rel, &meta),
            Ok(Found::Dir(canonical)) => {
                self.ancestors.push(canonical);
                let read = self.dir(&path, &rel.0);
                self.ancestors.pop();
                if let Err(e) = read {
                    self.skip(rel.0, Reason::Unreadable(e.to_string()));
                }
            }
        }
    }

    /// What an entry is; for a symlink, what it leads to, if that is inside the DAG folder and not
    /// a folder the walk is already in.
    fn resolve(&self, path: &Path, entry: &fs::DirEntry) -> Result<Found, Reason> {
        let unreadable = |e: io::Error| Reason::Unreadable(e.to_string());
        let kind = entry.file_type().map_err(unreadable)?;
        if kind.is_dir() {
            let parent = self.ancestors.last().map_or(self.base, PathBuf::as_path);
            return Ok(Found::Dir(parent.join(entry.file_name())));
        }
        if kind.is_file() {
            return entry.metadata().map(Found::File).map_err(unreadable);
        }
        if !kind.is_symlink() {
            return Ok(Found::Other);
        }
        let target = fs::canonicalize(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Reason::Dangling,
            _ if e.raw_os_error() == Some(ELOOP) => Reason::Loop,
            _ => unreadable(e),
        })?;
        if !target.starts_with(self.base) {
            return Err(Reason::OutsideRoot(target));
        }
        let meta = fs::metadata(&target).map_err(unreadable)?;
        if meta.is_dir() {
            if self.ancestors.contains(&target) {
                return Err(Reason::Loop);
            }
            return Ok(Found::Dir(target));
        }
        Ok(if meta.is_file() { Found::File(meta) } else { Found::Other })
    }

    /// Whether `.airflowignore` or `.gitignore` rules exclude the path: in each chain of files the
    /// deepest one with a matching pattern decides.
    fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        let excluded_by = |pick: fn(&Rules) -> Option<&Gitignore>| {
            self.rules
                .iter()
                .rev()
                .filter_map(pick)
                .map(|rules| rules.matched(path, is_dir))
                .find(|m| !m.is_none())
                .is_some_and(|m| m.is_ignore())
        };
        excluded_by(|rules| rules.airflow.as_ref()) || excluded_by(|rules| rules.git.as_ref())
    }

    fn file(&mut self, path: &Path, rel: RelPath, meta: &fs::Metadata) {
        let size = meta.len();
        let modified = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        let known = self
            .previous
            .and_then(|files| files.get(&rel))
            .filter(|old| old.size == size && old.modified == modified)
            .filter(|_| self.trusted_before.is_some_and(|before| modified < before))
            .and_then(|old| old.hash);
        let hash = match known.map_or_else(|| sha256(path, &mut self.buf), Ok) {
            Ok(hash) => hash,
            // Deleted since it was listed: it is simply not there.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => return self.skip(rel.0, Reason::Unreadable(e.to_string())),
        };
        let executable = meta.mode() & 0o100 != 0;
        self.files.insert(rel, Entry { size, modified, executable, hash: Some(hash) });
    }

    fn skip(&mut self, path: String, reason: Reason) {
        self.skipped.push(Skipped { path, reason });
    }
}

/// The rules of one ignore file in `dir`, if it has any.
fn matcher(dir: &Path, name: &str) -> Option<Gitignore> {
    let mut builder = GitignoreBuilder::new(dir);
    // A line that is not a valid glob is dropped, as Airflow drops it; the other lines still apply.
    let _ = builder.add(dir.join(name));
    builder.build().ok().filter(|rules| !rules.is_empty())
}

fn sha256(path: &Path, buf: &mut [u8]) -> io::Result<[u8; 32]> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    loop {
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize().into())
}

// ---------------------------------------------------------------------------------------------
// What to send.

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// New files, and files whose content or executable bit differ; sorted.
    pub upload: Vec<RelPath>,
    /// Files the remote tree has and the local one does not; sorted.
    pub delete: Vec<RelPath>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.upload.is_empty() && self.delete.is_empty()
    }
}

/// What turns `remote` into `local`. A rename is a delete and an upload.
pub fn diff(remote: &Tree, local: &Tree) -> Change {
    let same =
        |old: &Entry, new: &Entry| old.hash.is_some() && old.hash == new.hash && old.executable == new.executable;
    Change {
        upload: local
            .files
            .iter()
            .filter(|(path, new)| remote.files.get(*path).is_none_or(|old| !same(old, new)))
            .map(|(path, _)| path.clone())
            .collect(),
        delete: remote.files.keys().filter(|path| !local.files.contains_key(*path)).cloned().collect(),
    }
}

/// A gzipped tar of exactly `paths`, each read from disk now: regular-file entries with mode 0644 or 0755
/// (from the file's owner-executable bit) and the file's mtime, after a 0755 folder entry for each
/// folder they are in, all owned by uid/gid 0. No links, no absolute or `..` paths: every name is a
/// [`RelPath`]. Folder entries come first so that tar makes real folders before writing into them.
pub fn archive(root: &Path, tree: &Tree, paths: &[RelPath]) -> Result<Vec<u8>, Error> {
    let base = fs::canonicalize(root).map_err(|source| Error::Root { path: root.to_path_buf(), source })?;
    // Each folder with the newest mtime of what this archive puts in it.
    let mut dirs: BTreeMap<&str, i128> = BTreeMap::new();
    for path in paths {
        let entry = tree.files.get(path).ok_or_else(|| Error::NotScanned { path: path.clone() })?;
        for dir in path.parents() {
            let newest = dirs.entry(dir).or_insert(entry.modified);
            *newest = (*newest).max(entry.modified);
        }
    }
    // Python compresses about fivefold, and the tar may cross a slow uplink to a cloud cluster;
    // the fastest level costs devflow little.
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gzip);
    for (dir, modified) in dirs {
        let secs = u64::try_from(modified.div_euclid(1_000_000_000)).unwrap_or(0);
        let mut header = header(tar::EntryType::Directory, 0o755, secs, 0);
        builder
            .append_data(&mut header, format!("{dir}/"), io::empty())
            .map_err(|source| Error::Archive { what: format!("{dir}/"), source })?;
    }
    let mut data = Vec::new();
    for path in paths {
        let meta = read_now(&base, path, &mut data)?;
        let mode = if meta.mode() & 0o100 != 0 { 0o755 } else { 0o644 };
        let secs = u64::try_from(meta.mtime()).unwrap_or(0);
        let mut header = header(tar::EntryType::Regular, mode, secs, data.len() as u64);
        builder
            .append_data(&mut header, path.as_str(), data.as_slice())
            .map_err(|source| Error::Archive { what: path.to_string(), source })?;
    }
    let end = |source| Error::Archive { what: "its end".into(), source };
    builder.into_inner().map_err(end)?.finish().map_err(end)
}

fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    header
}

/// Reads a scanned file into `data` as it is now, checking it is still a regular file inside the
/// DAG folder (a symlink may have been re-pointed since the scan).
fn read_now(base: &Path, path: &RelPath, data: &mut Vec<u8>) -> Result<fs::Metadata, Error> {
    let changed = |why| Error::Changed { path: path.clone(), why };
    let gone_or = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            changed("it is gone")
        } else {
            Error::Read { path: path.clone(), source: e }
        }
    };
    let target = fs::canonicalize(base.join(path.as_str())).map_err(gone_or)?;
    if !target.starts_with(base) {
        return Err(changed("it now leads outside the DAG folder"));
    }
    let mut file = fs::File::open(&target).map_err(gone_or)?;
    let meta = file.metadata().map_err(gone_or)?;
    if !meta.is_file() {
        return Err(changed("it is no longer a regular file"));
    }
    data.clear();
    file.read_to_end(data).map_err(gone_or)?;
    Ok(meta)
}

// ---------------------------------------------------------------------------------------------
// The receiving end: argv run in the pod with `sh`, for GNU coreutils/findutils/tar (Debian-based
// Airflow images) and BusyBox alike; every flag used is in both.

/// The receiver. `$1` the destination, `$2` `archive` when stdin carries one, `$3` `--`, then the
/// files to delete, relative to the destination. Paths only ever arrive as arguments, never in
/// the script text. In order:
/// - every symlink under the destination is removed first: devflow never makes one, and one in
///   the way would let `rm` or tar reach outside (BusyBox tar writes `a/x` through a symlink `a`
///   to a folder; GNU tar replaces it, but not all tars do);
/// - deletes (`rm -f --`, so a name starting with `-` is a name), then each deleted file's folder
///   is removed while it is empty, up the tree;
/// - the archive is unpacked without restoring owners (`-o`: the pod's user owns what it writes);
///   `umask 022` keeps the archive's 0644/0755 modes whatever the pod's umask is.
///
/// `lost+found` (on a fresh ext4 volume) is not looked into: it belongs to root.
const RECEIVE: &str = r#"set -u
fail() { printf 'devflow-receive: %s\n' "$*" >&2; exit 97; }
dest=$1 archive=$2
shift 3
umask 022
mkdir -p "$dest" || fail "cannot create $dest"
cd "$dest" || fail "cannot enter $dest"
find . -path ./lost+found -prune -o -type l -exec rm -f {} + || fail "cannot remove the symlinks under $dest"
rm -f -- "$@" || fail "cannot delete files under $dest"
last=
for f do
  case $f in */*) d=${f%/*} ;; *) continue ;; esac
  [ "$d" = "$last" ] && continue
  last=$d
  while [ -d "./$d" ] && rmdir "./$d" 2>/dev/null; do
    case $d in */*) d=${d%/*} ;; *) break ;; esac
  done
done
if [ "$archive" = archive ]; then
  tar -x -z -o -f - || fail "cannot unpack the archive into $dest"
fi
"#;

/// Lists the destination's files and symlinks, NUL-separated, as `./a/b.py`; nothing when the
/// destination does not exist yet. Python's caches are left out: the pod's Python writes them,
/// devflow never sends them, and deleting them would only make Python write them again.
const LIST: &str = r#"if ! cd "$1" 2>/dev/null; then
  [ -e "$1" ] || exit 0
  printf 'devflow-list: cannot enter %s\n' "$1" >&2
  exit 97
fi
exec find . -path ./lost+found -prune -o -name __pycache__ -prune -o \( -type f -o -type l \) -print0
"#;

/// How many bytes of argv one exec carries, counted as they travel: the Kubernetes exec API takes
/// each argument as a `command=` query parameter of the request URL (percent-encoded, up to three
/// bytes per byte), and the API server, the kubelet and any proxy in between cap URL length; 32 KiB
/// stays well inside the usual limits.
const ARGV_BUDGET: usize = 32 * 1024;

fn argv_cost(arg: &str) -> usize {
    "&command=".len() + 3 * arg.len()
}

/// A destination that `cd`, `mkdir` and `find` cannot take for an option (`-x`) or for `cd -`.
fn dest_arg(dest: &str) -> String {
    if dest.starts_with('/') { dest.to_owned() } else { format!("./{dest}") }
}

/// The argv to run in the pod, in order, to apply `delete` and then the archive. Each fits
/// [`ARGV_BUDGET`]; only the last reads stdin, and it must get the [`archive`] (an empty one when
/// there is nothing to upload); the others get no input. Deletes all happen before the archive is
/// unpacked, so a file can become a folder of the same name and the other way round.
pub fn receive_commands(dest: &str, delete: &[RelPath]) -> Vec<Vec<String>> {
    let dest = dest_arg(dest);
    let head = |archive: bool| -> Vec<String> {
        let stdin = if archive { "archive" } else { "no-archive" };
        ["sh", "-c", RECEIVE, "devflow-receive", &dest, stdin, "--"].map(String::from).to_vec()
    };
    let fixed: usize = head(false).iter().map(|arg| argv_cost(arg)).sum();
    // Sorted, so that each folder's files are together: the receiver tries each folder once.
    let mut delete: Vec<&RelPath> = delete.iter().collect();
    delete.sort();
    delete.dedup();
    let mut chunks: Vec<Vec<&RelPath>> = vec![Vec::new()];
    let mut size = fixed;
    for path in delete {
        let cost = argv_cost(path.as_str());
        if size + cost > ARGV_BUDGET && chunks.last().is_some_and(|chunk| !chunk.is_empty()) {
            chunks.push(Vec::new());
            size = fixed;
        }
        size += cost;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(path);
        }
    }
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(at, chunk)| {
            let mut argv = head(at == last);
            argv.extend(chunk.into_iter().map(|path| path.0.clone()));
            argv
        })
        .collect()
}

/// The argv that lists the files (and symlinks, so they are deleted or replaced) under `dest`,
/// for [`parse_listing`].
pub fn list_command(dest: &str) -> Vec<String> {
    ["sh", "-c", LIST, "devflow-list", &dest_arg(dest)].map(String::from).to_vec()
}

/// The paths in [`list_command`]'s stdout. A name devflow could not have sent (a newline in it,
/// not UTF-8) is an error: devflow can neither delete nor replace it.
pub fn parse_listing(stdout: &[u8]) -> Result<Vec<RelPath>, Error> {
    stdout
        .split(|&byte| byte == 0)
        .filter(|raw| !raw.is_empty())
        .map(|raw| {
            let bad = |why| Error::Listing { entry: shown(OsStr::from_bytes(raw)), why };
            let text = std::str::from_utf8(raw).map_err(|_| bad("its name is not UTF-8"))?;
            let path = text.strip_prefix("./").ok_or_else(|| bad("it does not start with `./`"))?;
            check(path).map_err(bad)?;
            Ok(RelPath(path.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn set_mtime(path: &Path, at: SystemTime) {
        fs::File::options().write(true).open(path).unwrap().set_modified(at).unwrap();
    }

    fn rel(path: &str) -> RelPath {
        check(path).unwrap();
        RelPath(path.to_owned())
    }

    fn names(tree: &Tree) -> Vec<&str> {
        tree.files.keys().map(RelPath::as_str).collect()
    }

    #[test]
    fn scan_honours_ignore_files_at_every_level_and_leaves_out_git_and_caches() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".airflowignore", "# Airflow 3 glob syntax\n*_test.py\nscratch/\n");
        write(root, ".gitignore", "*.log\nbuild/\n");
        for file in ["dag.py", "dag_test.py", "debug.log", ".hidden.py", ".env", "scratch/x.py", "build/out.py"] {
            write(root, file, "x");
        }
        write(root, "team/.airflowignore", "old_*.py\n");
        write(root, "team/.gitignore", "!keep.log\n");
        for file in ["team/old_etl.py", "team/etl.py", "team/etl_test.py", "team/keep.log", "team/other.log"] {
            write(root, file, "x");
        }
        // A folder's rules do not reach its siblings.
        write(root, "other/old_etl.py", "x");
        for file in ["__pycache__/dag.cpython-312.pyc", "team/__pycache__/etl.cpython-312.pyc", "stale.pyc"] {
            write(root, file, "x");
        }
        write(root, ".git/config", "x");
        write(root, "team/.git", "gitdir: ../.git/modules/team\n");

        let scan = scan(root, None).unwrap();
        assert_eq!(
            names(&scan.tree),
            [
                ".airflowignore",
                ".env",
                ".gitignore",
                ".hidden.py",
                "dag.py",
                "other/old_etl.py",
                "team/.airflowignore",
                "team/.gitignore",
                "team/etl.py",
                "team/keep.log",
            ]
        );
        assert_eq!(scan.skipped, [], "what is excluded on purpose is not reported");
    }

    #[test]
    fn symlinks_inside_are_followed_and_the_others_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("dags"), dir.path().join("outside"));
        write(&outside, "secret.py", "s");
        write(&root, "real/a.py", "A");
        write(&root, ".gitignore", "ignored_link\n");
        let link = |target: &str, name: &str| symlink(target, root.join(name)).unwrap();
        link("real/a.py", "link_file.py");
        link("real", "linkdir");
        link("..", "real/up");
        link("self", "self");
        link("chain2", "chain1");
        link("chain1", "chain2");
        link("../outside/secret.py", "out.py");
        link(outside.to_str().unwrap(), "outdir");
        link("nope.py", "dangling.py");
        link("nope", "ignored_link");

        let scan = scan(&root, None).unwrap();
        assert_eq!(names(&scan.tree), [".gitignore", "link_file.py", "linkdir/a.py", "real/a.py"]);
        let files = &scan.tree.files;
        assert_eq!(files["link_file.py"].hash, files["real/a.py"].hash, "sent as what it points to");
        let outside = fs::canonicalize(&outside).unwrap();
        let skipped: Vec<(&str, &Reason)> = scan.skipped.iter().map(|s| (s.path.as_str(), &s.reason)).collect();
        assert_eq!(
            skipped,
            [
                ("chain1", &Reason::Loop),
                ("chain2", &Reason::Loop),
                ("dangling.py", &Reason::Dangling),
                ("linkdir/up", &Reason::Loop),
                ("out.py", &Reason::OutsideRoot(outside.join("secret.py"))),
                ("outdir", &Reason::OutsideRoot(outside.clone())),
                ("real/up", &Reason::Loop),
                ("self", &Reason::Loop),
            ]
        );
        assert!(Reason::OutsideRoot(outside).to_string().contains("outside the DAG folder"));
    }

    #[test]
    fn names_that_cannot_travel_and_special_files_are_reported_and_modes_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join(OsStr::from_bytes(b"bad\xff.py")), "x").unwrap();
        fs::write(root.join("new\nline.py"), "x").unwrap();
        write(root, "esc\u{1b}/inside.py", "x");
        for file in ["é.py", "-rf.py", "with space.py"] {
            write(root, file, "x");
        }
        let _socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
        for (file, mode) in [("run.sh", 0o755), ("owner.sh", 0o700), ("group.sh", 0o654), ("plain.py", 0o600)] {
            write(root, file, "x");
            chmod(&root.join(file), mode);
        }

        let scan = scan(root, None).unwrap();
        let executable: Vec<(&str, bool)> =
            scan.tree.files.iter().map(|(path, entry)| (path.as_str(), entry.executable)).collect();
        assert_eq!(
            executable,
            [
                ("-rf.py", false),
                ("group.sh", false),
                ("owner.sh", true),
                ("plain.py", false),
                ("run.sh", true),
                ("with space.py", false),
                ("é.py", false),
            ]
        );
        let control = Reason::BadName("it has a control character (such as a newline) in its name");
        assert_eq!(
            scan.skipped,
            [
                Skipped { path: "bad\u{fffd}.py".into(), reason: Reason::BadName("its name is not UTF-8") },
                Skipped { path: "esc\\u{1b}".into(), reason: control.clone() },
                Skipped { path: "new\\nline.py".into(), reason: control },
                Skipped { path: "sock".into(), reason: Reason::NotAFile },
            ]
        );
    }

    #[test]
    fn only_files_with_a_new_size_or_mtime_are_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let file = root.join("a.py");
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        fs::write(&file, "one").unwrap();
        set_mtime(&file, hour_ago);
        let first = scan(root, None).unwrap().tree;

        // Same size, same mtime: the content is not read again (which is what makes a rescan
        // cheap), so the old hash stays even though the bytes changed behind its back.
        fs::write(&file, "two").unwrap();
        set_mtime(&file, hour_ago);
        let again = scan(root, Some(&first)).unwrap().tree;
        assert_eq!(again.files["a.py"].hash, first.files["a.py"].hash);
        assert_ne!(scan(root, None).unwrap().tree.files["a.py"].hash, first.files["a.py"].hash);

        set_mtime(&file, hour_ago + Duration::from_secs(1));
        let touched = scan(root, Some(&first)).unwrap().tree;
        assert_ne!(touched.files["a.py"].hash, first.files["a.py"].hash);

        // Written just before the last scan: the same mtime may hide a second write, so it is read.
        let recent = root.join("b.py");
        fs::write(&recent, "xxx").unwrap();
        let before = scan(root, Some(&touched)).unwrap().tree;
        let mtime = fs::metadata(&recent).unwrap().modified().unwrap();
        fs::write(&recent, "yyy").unwrap();
        set_mtime(&recent, mtime);
        let after = scan(root, Some(&before)).unwrap().tree;
        assert_eq!(after.files["b.py"].modified, before.files["b.py"].modified);
        assert_ne!(after.files["b.py"].hash, before.files["b.py"].hash);
    }

    fn tree(files: &[(&str, u8, bool)]) -> Tree {
        let entry = |hash, executable| Entry { size: 1, modified: 0, executable, hash: Some([hash; 32]) };
        Tree { files: files.iter().map(|&(path, hash, x)| (rel(path), entry(hash, x))).collect(), scanned: None }
    }

    fn change(upload: &[&str], delete: &[&str]) -> Change {
        Change { upload: upload.iter().map(|p| rel(p)).collect(), delete: delete.iter().map(|p| rel(p)).collect() }
    }

    #[test]
    fn diff_uploads_new_and_changed_files_and_deletes_the_rest() {
        let remote = tree(&[("a.py", 1, false), ("b/c.py", 2, false)]);
        assert!(diff(&remote, &remote).is_empty());
        let edit = tree(&[("a.py", 9, false), ("b/c.py", 2, false)]);
        assert_eq!(diff(&remote, &edit), change(&["a.py"], &[]));
        let add = tree(&[("a.py", 1, false), ("b/c.py", 2, false), ("new.py", 3, false)]);
        assert_eq!(diff(&remote, &add), change(&["new.py"], &[]));
        let delete = tree(&[("a.py", 1, false)]);
        assert_eq!(diff(&remote, &delete), change(&[], &["b/c.py"]));
        let rename = tree(&[("a.py", 1, false), ("b/d.py", 2, false)]);
        assert_eq!(diff(&remote, &rename), change(&["b/d.py"], &["b/c.py"]));
        let chmod = tree(&[("a.py", 1, true), ("b/c.py", 2, false)]);
        assert_eq!(diff(&remote, &chmod), change(&["a.py"], &[]));
        let mut touched = remote.clone();
        touched.files.values_mut().for_each(|entry| entry.modified += 1);
        assert!(diff(&remote, &touched).is_empty(), "a touch alone sends nothing");

        let listed = Tree::listing([rel("a.py"), rel("gone.py")]);
        let local = tree(&[("a.py", 1, false), ("new.py", 3, false)]);
        assert_eq!(diff(&listed, &local), change(&["a.py", "new.py"], &["gone.py"]));
    }

    #[test]
    fn the_archive_holds_exactly_the_files_as_regular_entries_under_real_folders() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("dags"), dir.path().join("outside"));
        let long = format!("deep/{}/{}.py", "d".repeat(60), "f".repeat(80));
        write(&root, "dags/etl.py", "etl");
        write(&root, "dags/run.sh", "#!/bin/sh\n");
        chmod(&root.join("dags/run.sh"), 0o775);
        write(&root, "top.py", "top");
        write(&root, "not/sent.py", "no");
        write(&root, &long, "long");
        write(&outside, "secret.py", "secret");
        symlink("dags/etl.py", root.join("linked.py")).unwrap();
        let tree = scan(&root, None).unwrap().tree;
        let paths = [rel("top.py"), rel("dags/run.sh"), rel("linked.py"), rel(&long), rel("dags/etl.py")];

        let bytes = archive(&root, &tree, &paths).unwrap();
        let mut read = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut entries = Vec::new();
        for entry in read.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            let path = entry.path().unwrap().to_str().unwrap().to_owned();
            let facts =
                (path, header.entry_type(), header.mode().unwrap(), header.uid().unwrap(), header.gid().unwrap());
            let mtime = header.mtime().unwrap();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            if facts.1 == tar::EntryType::Regular {
                let on_disk = fs::metadata(root.join(&facts.0)).unwrap().mtime();
                assert_eq!(mtime, u64::try_from(on_disk).unwrap(), "{}", facts.0);
            }
            entries.push((facts, content));
        }
        let dir_entry = |path: &str| ((path.to_owned(), tar::EntryType::Directory, 0o755, 0, 0), String::new());
        let file =
            |path: &str, mode, content: &str| ((path.to_owned(), tar::EntryType::Regular, mode, 0, 0), content.into());
        let deep_dir = format!("deep/{}/", "d".repeat(60));
        assert_eq!(
            entries,
            [
                dir_entry("dags/"),
                dir_entry("deep/"),
                dir_entry(&deep_dir),
                file("top.py", 0o644, "top"),
                file("dags/run.sh", 0o755, "#!/bin/sh\n"),
                file("linked.py", 0o644, "etl"),
                file(&long, 0o644, "long"),
                file("dags/etl.py", 0o644, "etl"),
            ]
        );

        let mut empty = Vec::new();
        flate2::read::GzDecoder::new(archive(&root, &tree, &[]).unwrap().as_slice()).read_to_end(&mut empty).unwrap();
        assert!(empty.len() == 1024 && empty.iter().all(|&b| b == 0), "two zero blocks: an empty archive");

        assert!(matches!(archive(&root, &tree, &[rel("nope.py")]), Err(Error::NotScanned { .. })));
        fs::remove_file(root.join("top.py")).unwrap();
        let gone = archive(&root, &tree, &[rel("top.py")]).unwrap_err();
        assert!(matches!(gone, Error::Changed { .. }), "{gone}");
        assert_eq!(gone.to_string(), "top.py changed after the DAG folder was scanned (it is gone); scan again");
        fs::remove_file(root.join("linked.py")).unwrap();
        symlink(outside.join("secret.py"), root.join("linked.py")).unwrap();
        let repointed = archive(&root, &tree, &[rel("linked.py")]).unwrap_err();
        assert!(matches!(repointed, Error::Changed { why: "it now leads outside the DAG folder", .. }));
    }

    #[test]
    fn hostile_paths_are_rejected_wherever_they_come_from() {
        for bad in [
            "",
            "/etc/passwd",
            "..",
            "../x",
            "a/../../x",
            "a/..",
            ".",
            "./a",
            "a/./b",
            "a//b",
            "a/",
            "a\nb",
            "a\0b",
            "a\rb",
            "\u{1b}[31m",
            "x\u{85}",
        ] {
            assert!(check(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "a/b.py", "-rf", "--", ".hidden", "..foo", "a..b", "é/ü.py", "with space", "$(reboot)"] {
            assert_eq!(rel(good).as_str(), good);
        }
        assert_eq!(check("a/../../etc"), Err("it has a `.` or `..` in it"));
        assert_eq!(check("a\nb"), Err("it has a control character (such as a newline) in its name"));
        let err = parse_listing(b"./ok.py\0./a\nb.py\0").unwrap_err().to_string();
        assert_eq!(
            err,
            "the DAG volume holds `./a\\nb.py`, which devflow cannot delete or replace (it has a control \
             character (such as a newline) in its name); remove it from the volume by hand"
        );

        for listing in [&b"./../x\0"[..], b"/etc/passwd\0", b"./a\nb\0", b"./\xff\0", b"a.py\0", b"./\0", b"./a//b\0"] {
            assert!(matches!(parse_listing(listing), Err(Error::Listing { .. })), "{listing:?} accepted");
        }
        assert_eq!(parse_listing(b"./a.py\0./-rf\0./d/e.py\0").unwrap(), [rel("a.py"), rel("-rf"), rel("d/e.py")]);
        assert_eq!(parse_listing(b"").unwrap(), []);

        // Paths travel as arguments after `--`, never inside the script.
        let argv = receive_commands("/opt/airflow/dags", &[rel("z/$(reboot).py"), rel("-rf")]);
        assert_eq!(
            argv,
            [["sh", "-c", RECEIVE, "devflow-receive", "/opt/airflow/dags", "archive", "--", "-rf", "z/$(reboot).py"]]
        );
        assert_eq!(list_command("-x")[4], "./-x", "a destination is never taken for an option");
    }

    #[test]
    fn many_deletes_are_spread_over_execs_within_the_budget() {
        let delete: Vec<RelPath> =
            (0..5000).rev().map(|i| rel(&format!("team/{i:05}_{}.py", "x".repeat(50)))).collect();
        let commands = receive_commands("/dags", &delete);
        assert!(commands.len() > 1);
        for (at, argv) in commands.iter().enumerate() {
            assert!(argv.iter().map(|arg| argv_cost(arg)).sum::<usize>() <= ARGV_BUDGET);
            let stdin = if at == commands.len() - 1 { "archive" } else { "no-archive" };
            assert_eq!(argv[..7], ["sh", "-c", RECEIVE, "devflow-receive", "/dags", stdin, "--"]);
        }
        let sent: Vec<&str> = commands.iter().flat_map(|argv| &argv[7..]).map(String::as_str).collect();
        let mut expected: Vec<&str> = delete.iter().map(RelPath::as_str).collect();
        expected.sort();
        assert_eq!(sent, expected);
        assert_eq!(
            receive_commands("dags", &[]),
            [["sh", "-c", RECEIVE, "devflow-receive", "./dags", "archive", "--"]]
        );
    }

    // -----------------------------------------------------------------------------------------
    // The receiver, run for real with the system's GNU tools and with BusyBox.

    /// Runs an argv, with `tools` (a folder of BusyBox links) as the only PATH if given.
    fn run(tools: Option<&Path>, argv: &[String], stdin: &[u8]) -> Output {
        let mut command = match tools {
            Some(dir) => {
                let mut command = Command::new(dir.join(&argv[0]));
                command.env("PATH", dir);
                command
            }
            None => Command::new(&argv[0]),
        };
        command.args(&argv[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        std::thread::scope(|scope| {
            scope.spawn(move || io::Write::write_all(&mut input, stdin));
            child.wait_with_output().unwrap()
        })
    }

    fn run_ok(tools: Option<&Path>, argv: &[String], stdin: &[u8]) -> Vec<u8> {
        let out = run(tools, argv, stdin);
        assert!(out.status.success(), "{:?} failed: {}", &argv[3..], String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// One push as the executor will run it; a full resync when `remote` is unknown.
    fn push(tools: Option<&Path>, root: &Path, dest: &Path, remote: Option<&Tree>) -> Tree {
        let dest_str = dest.to_str().unwrap();
        let listed;
        let remote = match remote {
            Some(remote) => remote,
            None => {
                listed = Tree::listing(parse_listing(&run_ok(tools, &list_command(dest_str), b"")).unwrap());
                &listed
            }
        };
        let local = scan(root, Some(remote)).unwrap().tree;
        let change = diff(remote, &local);
        let archive = archive(root, &local, &change.upload).unwrap();
        let commands = receive_commands(dest_str, &change.delete);
        for (at, argv) in commands.iter().enumerate() {
            run_ok(tools, argv, if at == commands.len() - 1 { &archive } else { b"" });
        }
        assert_mirrors(root, &local, dest);
        local
    }

    /// The destination holds the tree's files, with their content, normalised mode and mtime, and
    /// nothing else: no other file, no symlink.
    fn assert_mirrors(root: &Path, tree: &Tree, dest: &Path) {
        fn walk(dir: &Path, rel: &str, found: &mut BTreeMap<String, (Vec<u8>, u32, i64)>) {
            for entry in fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                let meta = entry.metadata().unwrap();
                assert!(!meta.file_type().is_symlink(), "symlink left in the destination: {rel}");
                if meta.is_dir() {
                    walk(&entry.path(), &rel, found);
                } else {
                    found.insert(rel, (fs::read(entry.path()).unwrap(), meta.mode() & 0o7777, meta.mtime()));
                }
            }
        }
        let mut found = BTreeMap::new();
        walk(dest, "", &mut found);
        let expected: BTreeMap<String, (Vec<u8>, u32, i64)> = tree
            .files
            .iter()
            .map(|(path, entry)| {
                let local = root.join(path.as_str());
                let mode = if entry.executable { 0o755 } else { 0o644 };
                (path.to_string(), (fs::read(&local).unwrap(), mode, fs::metadata(&local).unwrap().mtime()))
            })
            .collect();
        assert_eq!(found.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
        assert_eq!(found, expected);
    }

    fn round_trip(tools: Option<&Path>) {
        let dir = tempfile::tempdir().unwrap();
        let (root, dest, outside) =
            (dir.path().join("dags"), dir.path().join("volume/dags"), dir.path().join("outside"));
        write(&outside, "victim.py", "untouched");
        let long = format!("deep/{}/{}.py", "d".repeat(60), "f".repeat(80));
        for file in
            ["etl.py", "team/a.py", "team/only/x.py", "-rf.py", "--", "with space.py", "é.py", "etl_test.py", &long]
        {
            write(&root, file, file);
        }
        write(&root, ".airflowignore", "*_test.py\n");
        write(&root, "run.sh", "#!/bin/sh\n");
        chmod(&root.join("run.sh"), 0o755);
        symlink("etl.py", root.join("linked.py")).unwrap();

        // The first push after a pod start: the volume does not even exist yet.
        let mut remote = push(tools, &root, &dest, None);
        assert!(remote.files.contains_key("linked.py") && !remote.files.contains_key("etl_test.py"));

        write(&root, "etl.py", "edited");
        remote = push(tools, &root, &dest, Some(&remote));

        fs::remove_file(root.join("team/only/x.py")).unwrap();
        remote = push(tools, &root, &dest, Some(&remote));
        assert!(!dest.join("team/only").exists() && dest.join("team").is_dir(), "the emptied folder is gone");

        // Names that look like options are deleted as names.
        fs::rename(root.join("team/a.py"), root.join("team/b.py")).unwrap();
        fs::rename(root.join("-rf.py"), root.join("-x.py")).unwrap();
        fs::remove_file(root.join("--")).unwrap();
        chmod(&root.join("etl.py"), 0o755);
        remote = push(tools, &root, &dest, Some(&remote));

        // A file becomes a folder, and back.
        write(&root, "shape", "file");
        remote = push(tools, &root, &dest, Some(&remote));
        fs::remove_file(root.join("shape")).unwrap();
        write(&root, "shape/inner.py", "folder");
        remote = push(tools, &root, &dest, Some(&remote));
        fs::remove_dir_all(root.join("shape")).unwrap();
        write(&root, "shape", "file again");
        remote = push(tools, &root, &dest, Some(&remote));

        // A `git checkout` adding, then removing, more files than one exec carries.
        for i in 0..1200 {
            write(&root, &format!("many/sub{}/file_{i:04}_{}.py", i % 7, "x".repeat(40)), "x");
        }
        remote = push(tools, &root, &dest, Some(&remote));
        fs::remove_dir_all(root.join("many")).unwrap();
        let gone: Vec<RelPath> = remote.files.keys().filter(|p| p.as_str().starts_with("many/")).cloned().collect();
        assert!(receive_commands(dest.to_str().unwrap(), &gone).len() > 1);
        remote = push(tools, &root, &dest, Some(&remote));
        assert!(!dest.join("many").exists());

        // Symlinks put into the volume behind devflow's back are never followed out of it: not by
        // an upload into a folder that is a symlink there, not by a delete inside one.
        write(&root, "team2/victim.py", "mine");
        remote = push(tools, &root, &dest, Some(&remote));
        fs::remove_dir_all(dest.join("team2")).unwrap();
        symlink(&outside, dest.join("team2")).unwrap();
        symlink(&outside, dest.join("evil")).unwrap();
        fs::remove_file(root.join("team2/victim.py")).unwrap();
        write(&root, "evil/payload.py", "payload");
        remote = push(tools, &root, &dest, Some(&remote));
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
        assert_eq!(fs::read_to_string(outside.join("victim.py")).unwrap(), "untouched");

        // A full resync over a volume with a stray file and a symlink where a file should be.
        fs::write(dest.join("stray.py"), "stray").unwrap();
        fs::remove_file(dest.join("etl.py")).unwrap();
        symlink(outside.join("victim.py"), dest.join("etl.py")).unwrap();
        // Python's caches and a volume's lost+found are not listed (and so not deleted).
        write(&dest, "team/__pycache__/b.cpython-312.pyc", "cache");
        write(&dest, "lost+found/#123", "root's");
        let listed = parse_listing(&run_ok(tools, &list_command(dest.to_str().unwrap()), b"")).unwrap();
        assert!(listed.contains(&rel("stray.py")) && listed.contains(&rel("etl.py")));
        assert!(
            !listed.iter().any(|path| path.as_str().contains("__pycache__") || path.as_str().contains("lost+found"))
        );
        fs::remove_dir_all(dest.join("team/__pycache__")).unwrap();
        fs::remove_dir_all(dest.join("lost+found")).unwrap();
        push(tools, &root, &dest, None);
        assert_eq!(fs::read_to_string(outside.join("victim.py")).unwrap(), "untouched");

        // A failure says so in a way the executor can recognise.
        let blocked = dir.path().join("volume/dags/etl.py/sub");
        let out =
            run(tools, &receive_commands(blocked.to_str().unwrap(), &[])[0], &archive(&root, &remote, &[]).unwrap());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(97), "{stderr}");
        assert!(stderr.contains("devflow-receive: cannot create"), "{stderr}");
    }

    #[test]
    fn the_receiver_mirrors_the_tree_with_gnu_tools() {
        round_trip(None);
    }

    #[test]
    fn the_receiver_mirrors_the_tree_with_busybox() {
        let busybox = Path::new("/bin/busybox");
        if !busybox.exists() {
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI must install busybox for this test");
            eprintln!("SKIPPED the_receiver_mirrors_the_tree_with_busybox: /bin/busybox is not installed");
            return;
        }
        // Only BusyBox on PATH, so every tool the scripts call is BusyBox's.
        let tools = tempfile::tempdir().unwrap();
        for tool in ["sh", "tar", "find", "rm", "rmdir", "mkdir"] {
            symlink(busybox, tools.path().join(tool)).unwrap();
        }
        round_trip(Some(tools.path()));
    }

    /// `cargo test --release --bin devflow sync::tests::benchmark -- --ignored --nocapture`
    #[test]
    #[ignore = "a benchmark, run by hand"]
    fn benchmark_5000_files_50_mb() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let filler = "# some DAG code\n".repeat(625);
        for i in 0..5000 {
            let path = root.join(format!("team{:02}/sub{}/dag_{i:04}.py", i % 50, i % 4));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, format!("{i:08}{}", &filler[8..])).unwrap();
            set_mtime(&path, hour_ago);
        }
        let time = |what: &str, f: &mut dyn FnMut() -> usize| {
            let start = Instant::now();
            let n = f();
            println!("{what:<48} {:>8.1} ms  ({n})", start.elapsed().as_secs_f64() * 1000.0);
        };
        let mut cold = None;
        time("cold scan (hash all 5,000 files)", &mut || {
            cold = Some(scan(root, None).unwrap().tree);
            cold.as_ref().unwrap().files.len()
        });
        let cold = cold.unwrap();
        let bytes: u64 = cold.files.values().map(|e| e.size).sum();
        println!("{bytes} bytes in {} files", cold.files.len());
        let all: Vec<RelPath> = cold.files.keys().cloned().collect();
        time("archive of all files (bytes)", &mut || archive(root, &cold, &all).unwrap().len());
        time("rescan, nothing changed (uploads)", &mut || {
            diff(&cold, &scan(root, Some(&cold)).unwrap().tree).upload.len()
        });
        fs::write(root.join("team07/sub3/dag_0007.py"), "changed").unwrap();
        time("rescan + diff + archive, one file changed (bytes)", &mut || {
            let local = scan(root, Some(&cold)).unwrap().tree;
            let change = diff(&cold, &local);
            assert_eq!(change.upload, [rel("team07/sub3/dag_0007.py")]);
            archive(root, &local, &change.upload).unwrap().len()
        });
    }
}
