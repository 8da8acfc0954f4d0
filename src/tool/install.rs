//! Pinned release binaries of kind, k3d and helm, installed into devflow's cache when a machine
//! has none. The SHA-256 of every file is kept here, in the source: a download that does not match
//! is thrown away before it is ever written as an executable.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Tool;
use crate::env::{Env, MIRROR_ENV};

/// A release binary's larger size, with room: more than this is not the file devflow pinned.
const MAX_DOWNLOAD: u64 = 200 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "devflow has no pinned {tool} for {os}/{arch}\n  install {tool} {version} yourself (it only has to be on PATH): {url}"
    )]
    NoPin { tool: Tool, version: &'static str, os: &'static str, arch: &'static str, url: &'static str },
    #[error(
        "cannot download {url}: {message}\n  check the network (or set {MIRROR_ENV} to a mirror of the release files)"
    )]
    Download { url: String, message: String },
    #[error(
        "{url} does not match the checksum devflow pins for {tool} {version}\n  expected sha256 {expected}\n  received sha256 {actual}\n  the file was discarded and nothing was installed; if a mirror serves it, the mirror's copy differs from the release"
    )]
    Checksum { tool: Tool, version: &'static str, url: String, expected: &'static str, actual: String },
    #[error("{url} is not the archive devflow expects: {message}")]
    Archive { url: String, message: String },
    #[error("cannot write {path}: {io}")]
    Write { path: String, io: std::io::Error },
}

crate::error::one_kind!(Error, Environment);

/// One release file of one tool for one platform.
#[derive(Debug)]
pub struct Pin {
    pub tool: Tool,
    pub version: &'static str,
    pub os: &'static str,
    pub arch: &'static str,
    pub sha256: &'static str,
}

/// kind v0.33.0 is the release the pinned kindest/node images were published with.
pub const KIND_VERSION: &str = "0.33.0";
pub const K3D_VERSION: &str = "5.9.0";
/// The Airflow chart 1.22's minimum.
pub const HELM_VERSION: &str = "3.19.0";

/// The sums published with each release (its `.sha256sum` files), as pinned by projects that
/// verify them: cert-manager's makefile-modules and cashapp's hermit-packages agree on the k3d and
/// helm sums; kind v0.33.0's appear identically in more than ten public build files. A wrong sum
/// can only make an install fail: nothing unverified is ever written as an executable.
pub const PINS: &[Pin] = &[
    Pin {
        tool: Tool::Kind,
        version: KIND_VERSION,
        os: "linux",
        arch: "amd64",
        sha256: "aee6151561422756b764a4ae28e7f44cda5af5a9eead3cc9985112b1de8d8e0d",
    },
    Pin {
        tool: Tool::Kind,
        version: KIND_VERSION,
        os: "linux",
        arch: "arm64",
        sha256: "20022bee6cfcd5086cb7234d218e3454e6090022f2a8f55d1fa7fcf42c3867a2",
    },
    Pin {
        tool: Tool::Kind,
        version: KIND_VERSION,
        os: "darwin",
        arch: "amd64",
        sha256: "5a99f26f57246dc9319dd294803313197a0f34d33c525b3ea8b655db5916ece0",
    },
    Pin {
        tool: Tool::Kind,
        version: KIND_VERSION,
        os: "darwin",
        arch: "arm64",
        sha256: "0c8c7dbe5e23594a198b786c4bc13dacc101fa6196b0cb0b23a1ca44e61f4b4f",
    },
    Pin {
        tool: Tool::K3d,
        version: K3D_VERSION,
        os: "linux",
        arch: "amd64",
        sha256: "06d8f25bc3a971c4eb29e0ff08429b180402db0f4dec838c9eac427e296800a0",
    },
    Pin {
        tool: Tool::K3d,
        version: K3D_VERSION,
        os: "linux",
        arch: "arm64",
        sha256: "03cde5cf23e6e8e67de5a039ecf26e5b85aca82fba3e5d13dadf904cd218a250",
    },
    Pin {
        tool: Tool::K3d,
        version: K3D_VERSION,
        os: "darwin",
        arch: "amd64",
        sha256: "b4aabc37534f95b9c764e7823f2df923f50d57600837aa60a06266cce47db732",
    },
    Pin {
        tool: Tool::K3d,
        version: K3D_VERSION,
        os: "darwin",
        arch: "arm64",
        sha256: "fe106541d5d0a3f18debcd4d432a16f8c0ce3e6ddc06f8fbb6f696a122313e00",
    },
    Pin {
        tool: Tool::Helm,
        version: HELM_VERSION,
        os: "linux",
        arch: "amd64",
        sha256: "a7f81ce08007091b86d8bd696eb4d86b8d0f2e1b9f6c714be62f82f96a594496",
    },
    Pin {
        tool: Tool::Helm,
        version: HELM_VERSION,
        os: "linux",
        arch: "arm64",
        sha256: "440cf7add0aee27ebc93fada965523c1dc2e0ab340d4348da2215737fc0d76ad",
    },
    Pin {
        tool: Tool::Helm,
        version: HELM_VERSION,
        os: "darwin",
        arch: "amd64",
        sha256: "09a108c0abda42e45af172be65c49125354bf7cd178dbe10435e94540e49c7b9",
    },
    Pin {
        tool: Tool::Helm,
        version: HELM_VERSION,
        os: "darwin",
        arch: "arm64",
        sha256: "31513e1193da4eb4ae042eb5f98ef9aca7890cfa136f4707c8d4f70e2115bef6",
    },
];

pub fn version(tool: Tool) -> &'static str {
    match tool {
        Tool::Kind => KIND_VERSION,
        Tool::K3d => K3D_VERSION,
        Tool::Helm => HELM_VERSION,
    }
}

pub fn docs_url(tool: Tool) -> &'static str {
    match tool {
        Tool::Kind => "https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
        Tool::K3d => "https://k3d.io/#installation",
        Tool::Helm => "https://helm.sh/docs/intro/install/",
    }
}

/// Where the pinned copy lives once installed.
pub fn cached_path(tool: Tool, env: &Env) -> PathBuf {
    env.tool_cache().join(format!("{}-v{}", tool.name(), version(tool))).join(tool.name())
}

/// The pin for this machine's platform.
pub fn pin_for_this_machine(tool: Tool) -> Result<&'static Pin, Error> {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    PINS.iter().find(|p| p.tool == tool && p.os == os && p.arch == arch).ok_or(Error::NoPin {
        tool,
        version: version(tool),
        os: static_str(os),
        arch: static_str(arch),
        url: docs_url(tool),
    })
}

fn static_str(s: &str) -> &'static str {
    ["linux", "darwin", "windows", "amd64", "arm64"].into_iter().find(|k| *k == s).unwrap_or("this platform")
}

/// The release URL of a pinned file, on the mirror when one is set.
pub fn url(pin: &Pin, mirror: Option<&str>) -> String {
    let (host, path) = match pin.tool {
        Tool::Kind => (
            "https://github.com",
            format!("/kubernetes-sigs/kind/releases/download/v{}/kind-{}-{}", pin.version, pin.os, pin.arch),
        ),
        Tool::K3d => (
            "https://github.com",
            format!("/k3d-io/k3d/releases/download/v{}/k3d-{}-{}", pin.version, pin.os, pin.arch),
        ),
        Tool::Helm => ("https://get.helm.sh", format!("/helm-v{}-{}-{}.tar.gz", pin.version, pin.os, pin.arch)),
    };
    format!("{}{path}", mirror.map(|m| m.trim_end_matches('/')).unwrap_or(host))
}

/// Whether `url`'s host answers HTTPS within `timeout` (any HTTP status counts: a registry's
/// 401 is an answer), through the proxy the environment names, as a download would go. Blocking.
pub fn probe(url: &str, timeout: std::time::Duration) -> Result<(), String> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
    agent.head(url).call().map(drop).map_err(|e| e.to_string())
}

/// Downloads, verifies and installs a pinned file as `target`. Blocking: call it off the async
/// runtime's threads.
pub fn install(pin: &Pin, mirror: Option<&str>, target: &Path) -> Result<(), Error> {
    let url = url(pin, mirror);
    let download = |message: String| Error::Download { url: url.clone(), message };
    let mut response = ureq::get(&url).call().map_err(|e| download(e.to_string()))?;
    let bytes =
        response.body_mut().with_config().limit(MAX_DOWNLOAD).read_to_vec().map_err(|e| download(e.to_string()))?;
    let actual = hex(&Sha256::digest(&bytes));
    if actual != pin.sha256 {
        return Err(Error::Checksum { tool: pin.tool, version: pin.version, url, expected: pin.sha256, actual });
    }
    let binary = match pin.tool {
        Tool::Kind | Tool::K3d => bytes,
        Tool::Helm => extract(&bytes, &format!("{}-{}/helm", pin.os, pin.arch))
            .map_err(|message| Error::Archive { url: url.clone(), message })?,
    };
    write_executable(target, &binary)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One file out of a .tar.gz.
fn extract(archive: &[u8], member: &str) -> Result<Vec<u8>, String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.path().map_err(|e| e.to_string())?.as_ref() == Path::new(member) {
            let mut out = Vec::new();
            entry.read_to_end(&mut out).map_err(|e| e.to_string())?;
            return Ok(out);
        }
    }
    Err(format!("it has no {member}"))
}

/// Written beside the target and renamed into place, so a half-written binary never runs.
fn write_executable(target: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let write = |path: &Path, io: std::io::Error| Error::Write { path: path.display().to_string(), io };
    let dir = target.parent().expect("an installed tool has a folder");
    std::fs::create_dir_all(dir).map_err(|e| write(dir, e))?;
    let partial = dir.join(".partial");
    std::fs::write(&partial, bytes).map_err(|e| write(&partial, e))?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).map_err(|e| write(&partial, e))?;
    std::fs::rename(&partial, target).map_err(|e| write(target, e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A release server on 127.0.0.1 that serves each path's bytes, and 404 for anything else.
    fn serve(files: Vec<(&'static str, Vec<u8>)>) -> String {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let found = files.iter().find(|(path, _)| *path == request.url());
                let _ = match found {
                    Some((_, body)) => request.respond(tiny_http::Response::from_data(body.clone())),
                    None => request.respond(tiny_http::Response::empty(404)),
                };
            }
        });
        url
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    fn pin(tool: Tool, bytes: &[u8]) -> Pin {
        Pin { tool, version: "9.9.9", os: "linux", arch: "amd64", sha256: leak(hex(&Sha256::digest(bytes))) }
    }

    fn helm_archive(binary: &[u8]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let mut header = tar::Header::new_gnu();
        header.set_size(binary.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, "linux-amd64/helm", binary).unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_verified_binary_is_installed_executable_and_a_wrong_one_never_lands() {
        let good = b"#!/bin/sh\necho kind v9.9.9\n".to_vec();
        let mirror = serve(vec![
            ("/kubernetes-sigs/kind/releases/download/v9.9.9/kind-linux-amd64", good.clone()),
            ("/k3d-io/k3d/releases/download/v9.9.9/k3d-linux-amd64", b"tampered".to_vec()),
        ]);
        let dir = tempfile::tempdir().unwrap();

        let target = dir.path().join("kind-v9.9.9/kind");
        install(&pin(Tool::Kind, &good), Some(&mirror), &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), good);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(target.metadata().unwrap().permissions().mode() & 0o777, 0o755);

        let target = dir.path().join("k3d-v9.9.9/k3d");
        let error = install(&pin(Tool::K3d, b"the real k3d"), Some(&mirror), &target).unwrap_err();
        assert!(matches!(error, Error::Checksum { .. }), "{error}");
        assert!(error.to_string().contains("nothing was installed"));
        assert!(!target.exists() && !dir.path().join("k3d-v9.9.9").exists());

        let missing = install(&pin(Tool::Helm, b"x"), Some(&mirror), &dir.path().join("helm"));
        assert!(matches!(missing, Err(Error::Download { .. })), "{missing:?}");
    }

    #[test]
    fn helm_comes_out_of_its_verified_archive() {
        let binary = b"helm binary".to_vec();
        let archive = helm_archive(&binary);
        let mirror = serve(vec![("/helm-v9.9.9-linux-amd64.tar.gz", archive.clone())]);
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("helm");
        install(&pin(Tool::Helm, &archive), Some(&mirror), &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), binary);

        let not_archive = b"not gzip".to_vec();
        let mirror = serve(vec![("/helm-v9.9.9-linux-amd64.tar.gz", not_archive.clone())]);
        let error = install(&pin(Tool::Helm, &not_archive), Some(&mirror), &dir.path().join("h2")).unwrap_err();
        assert!(matches!(error, Error::Archive { .. }), "{error}");
    }

    #[test]
    fn urls_follow_each_projects_release_layout_and_the_mirror() {
        let pin = Pin { tool: Tool::Helm, version: "3.19.0", os: "linux", arch: "amd64", sha256: "" };
        assert_eq!(url(&pin, None), "https://get.helm.sh/helm-v3.19.0-linux-amd64.tar.gz");
        assert_eq!(url(&pin, Some("http://mirror.local/")), "http://mirror.local/helm-v3.19.0-linux-amd64.tar.gz");
        for pin in PINS {
            assert_eq!(pin.version, version(pin.tool), "{pin:?}");
            assert!(pin.sha256.len() == 64 && pin.sha256.bytes().all(|b| b.is_ascii_hexdigit()), "{pin:?}");
        }
    }
}
