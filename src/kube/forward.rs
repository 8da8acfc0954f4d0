//! The port-forward that reaches Airflow on an existing cluster: 127.0.0.1:<ui_port> to the UI
//! pod, one kube-rs port-forward per connection, so a restarted pod is found again by the next
//! connection. It lives on its own thread for as long as its owner (the watch, `open`) holds it.

use std::net::TcpListener;
use std::thread::JoinHandle;

use super::{ApiClient, pod_ready};
use crate::env::Env;
use crate::ui::Printer;

pub struct Forward {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Forward {
    /// Forwards each connection to `listener` (bound to 127.0.0.1, so the port is known to be
    /// free) to `destination`; `printer` says what goes wrong, on standard error.
    pub fn start(
        env: &Env,
        destination: Destination,
        listener: TcpListener,
        printer: Printer,
    ) -> std::io::Result<Forward> {
        listener.set_nonblocking(true)?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let runtime = crate::runtime::new()?;
        let env = env.clone();
        let thread = std::thread::spawn(move || runtime.block_on(serve(env, listener, destination, stopped, printer)));
        Ok(Forward { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where connections go: the ready pod of a component, found anew for each connection.
pub struct Destination {
    pub context: String,
    pub namespace: String,
    /// The label selector of the pods that serve the UI.
    pub selector: String,
    /// Their port.
    pub port: u16,
}

async fn serve(
    env: Env,
    listener: TcpListener,
    target: Destination,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    mut printer: Printer,
) {
    // Problems go to standard error, once each until the forward works again.
    let mut said = String::new();
    let mut warn = |text: String| {
        if text != said {
            printer.warn(&text);
            said = text;
        }
    };
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => return warn(format!("the port-forward cannot listen: {e}")),
    };
    let kube = match ApiClient::connect(&env, &target.context).await {
        Ok(kube) => kube,
        Err(e) => return warn(format!("the port-forward cannot reach the cluster: {e}")),
    };
    let (errors, mut reported) = tokio::sync::mpsc::unbounded_channel::<String>();
    loop {
        let local = tokio::select! {
            _ = &mut stopped => return,
            Some(error) = reported.recv() => {
                warn(error);
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok((local, _)) => local,
                Err(e) => {
                    warn(format!("the port-forward stopped accepting connections: {e}"));
                    continue;
                }
            },
        };
        let pod = match ready_pod(&kube, &target).await {
            Ok(pod) => pod,
            Err(e) => {
                warn(e);
                continue;
            }
        };
        let (kube, errors, namespace, port) = (kube.clone(), errors.clone(), target.namespace.clone(), target.port);
        tokio::spawn(async move {
            if let Err(e) = kube.forward(&namespace, &pod, port, local).await {
                let _ = errors.send(e.to_string());
            }
        });
    }
}

async fn ready_pod(kube: &ApiClient, target: &Destination) -> Result<String, String> {
    let pods = kube.pods(&target.namespace, &target.selector).await.map_err(|e| e.to_string())?;
    let ready = pods.iter().rev().find(|pod| pod_ready(pod));
    ready.and_then(|pod| pod.metadata.name.clone()).ok_or_else(|| {
        format!(
            "no ready pod answers for {} in the namespace {} yet (`devflow status` shows the components)",
            target.selector, target.namespace
        )
    })
}
