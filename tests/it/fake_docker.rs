//! A stand-in Docker daemon on a tcp port, for what the real one here cannot be made to say: its
//! cgroup version, and that devflow talks to the daemon DOCKER_HOST or a Docker context names.
//! It answers the two calls `doctor` and `up`'s preflight make before anything else: `GET
//! /version` (bollard's `negotiate_version`) and `GET /v<api>/info`, with the fields of the
//! Engine API's `SystemVersion` and `SystemInfo` (moby `api/swagger.yaml`, v1.47: `ApiVersion`,
//! `ServerVersion`, `OperatingSystem`, `MemTotal`, `NCPU`, and `CgroupVersion` "1" or "2").
//! Any other call gets the daemon's 404 shape, `{"message": "page not found"}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct FakeDocker {
    pub port: u16,
    /// How many requests it answered.
    pub requests: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
}

/// What `docker info` says of the fake: its name shows in `doctor`'s Docker line.
pub const SERVER_VERSION: &str = "29.0.0-devflow-fake";

impl FakeDocker {
    /// A daemon whose `info` reports this cgroup version ("1" or "2"), 16 GiB and 8 CPUs.
    pub fn start(cgroup_version: &str) -> FakeDocker {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("a free port"));
        let port = server.server_addr().to_ip().expect("a tcp address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let (serving, counted, cgroup) = (server.clone(), requests.clone(), cgroup_version.to_string());
        std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                counted.fetch_add(1, Ordering::SeqCst);
                let path = request.url().split('?').next().unwrap_or_default().to_string();
                let (status, body) = if path == "/version" || path.ends_with("/version") {
                    (
                        200,
                        serde_json::json!({"Version": "29.0.0", "ApiVersion": "1.47", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"}),
                    )
                } else if path.ends_with("/info") {
                    (
                        200,
                        serde_json::json!({
                            "ServerVersion": SERVER_VERSION,
                            "OperatingSystem": "Fake Linux",
                            "MemTotal": 16u64 << 30,
                            "NCPU": 8,
                            "CgroupVersion": cgroup,
                            "CgroupDriver": if cgroup == "1" { "cgroupfs" } else { "systemd" },
                        }),
                    )
                } else {
                    (404, serde_json::json!({"message": "page not found"}))
                };
                let header = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
                let response =
                    tiny_http::Response::from_string(body.to_string()).with_status_code(status).with_header(header);
                let _ = request.respond(response);
            }
        });
        FakeDocker { port, requests, server }
    }

    pub fn host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeDocker {
    fn drop(&mut self) {
        self.server.unblock();
    }
}
