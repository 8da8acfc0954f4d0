//! The single-threaded tokio runtime devflow's async work runs on (Docker, Kubernetes, the tools):
//! one for a command, and one on each thread of its own (the port-forward, the watch's actions).

pub fn new() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}
