//! What a real cluster refuses before a pod's containers run, for references production values
//! make and a laptop cannot meet (issue 10): a claim that does not exist (the scheduler leaves the
//! pod Pending) and an image neither on the node nor in its registry (the kubelet's pull fails).

use serde_json::Value;

use super::State;
use super::view::{Ctx, ReleaseView};

/// The chart 1.22.0 values key of a component (`values.yaml`: `apiServer`, `dagProcessor`, …).
fn values_key(component: &str) -> Option<&'static str> {
    Some(match component {
        "scheduler" => "scheduler",
        "api-server" => "apiServer",
        "webserver" => "webserver",
        "dag-processor" => "dagProcessor",
        "triggerer" => "triggerer",
        "worker" => "workers",
        _ => return None,
    })
}

/// The claims the chart mounts in a component's pods: `volumes` (on every Airflow container),
/// the component's `extraVolumes`, and `dags`/`logs.persistence.existingClaim` when enabled.
fn claims(values: &Value, component: &str) -> Vec<String> {
    let mut volumes: Vec<&Value> = values["volumes"].as_array().into_iter().flatten().collect();
    if let Some(key) = values_key(component) {
        volumes.extend(values[key]["extraVolumes"].as_array().into_iter().flatten());
    }
    let mut out: Vec<String> =
        volumes.iter().filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str()).map(String::from).collect();
    for kept in ["dags", "logs"] {
        let persistence = &values[kept]["persistence"];
        if persistence["enabled"] == Value::Bool(true)
            && let Some(claim) = persistence["existingClaim"].as_str()
        {
            out.push(claim.to_string());
        }
    }
    out
}

/// The scheduler's answer for a pod whose claim does not exist: kubernetes/kubernetes
/// `pkg/scheduler/framework/plugins/volumebinding/volume_binding.go` (`PreFilter` →
/// `podHasPVCs`: the lister's NotFound `persistentvolumeclaim "x" not found`, status
/// UnschedulableAndUnresolvable) formatted by `FitError.Error()` (`pkg/scheduler/framework/
/// types.go`: `0/%v nodes are available:` then the PreFilter message and `" %v."`). The pod stays
/// Pending, PodScheduled False Unschedulable, until the claim is made.
pub(super) fn missing_claim(ctx: &Ctx, state: &State, r: &ReleaseView, component: &str) -> Option<String> {
    claims(&r.values, component).into_iter().find_map(|claim| {
        let path = format!("/api/v1/namespaces/{}/persistentvolumeclaims/{claim}", r.ns);
        let exists = state.objects.get(&path).is_some_and(|s| super::store::visible(ctx, s));
        (!exists).then(|| format!("0/1 nodes are available: persistentvolumeclaim \"{claim}\" not found."))
    })
}

/// containerd's answer for an image that is neither in the node's store (`kind load
/// docker-image` / `k3d image import` put images there) nor in its registry (scenario
/// `registry_lacks`: the references the registry does not have). containerd
/// `core/remotes/docker/resolver.go` returns `<ref>: not found` (errdefs.ErrNotFound), wrapped by
/// `pkg/cri/server/image_pull.go` as `failed to pull and unpack image "<ref>": failed to resolve
/// reference "<ref>": <ref>: not found`, and the kubelet (`pkg/kubelet/images/image_manager.go`)
/// reports ErrImagePull with it; no later try finds it.
pub(super) fn pull_error(ctx: &Ctx, r: &ReleaseView, image: &str) -> Option<String> {
    let on_node = ctx.clusters.iter().filter(|c| c.context == r.context).any(|c| c.images.iter().any(|i| i == image));
    let lacks = ctx.scenario["registry_lacks"].as_array().into_iter().flatten().any(|i| i.as_str() == Some(image));
    let qualified = qualified(image);
    (lacks && !on_node).then(|| {
        format!(
            "rpc error: code = NotFound desc = failed to pull and unpack image \"{qualified}\": failed to resolve reference \"{qualified}\": {qualified}: not found"
        )
    })
}

/// A reference as containerd names it: Docker Hub's `docker.io/` (and `library/`) made explicit
/// (github.com/distribution/reference `ParseNormalizedNamed`).
fn qualified(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    let has_registry = image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    match (has_registry, image.contains('/')) {
        (true, _) => image.to_string(),
        (false, true) => format!("docker.io/{image}"),
        (false, false) => format!("docker.io/library/{image}"),
    }
}
