//! The Kubernetes node images devflow pins, one set per supported minor: kind's (with the digest its
//! release requires) and k3s's. The plan picks from them; `devflow init` lists them.

/// One supported Kubernetes minor and the node images pinned for it.
#[derive(Debug)]
pub struct NodeImages {
    pub minor: &'static str,
    /// Built for kind v0.33.0; kind's release notes require the digest.
    pub kind: &'static str,
    pub k3s: &'static str,
}

/// Sources: the kind v0.33.0 release notes for the kindest/node digests, the k3s stable-channel
/// history and k3s releases for the tags. The newest minor a provider's release defaults to
/// (1.37 for kind v0.33) is the newest; every minor from 1.35 needs cgroup v2 on the Docker host
/// (KEP-5573), so a cgroup v1 host must pick 1.34 (`provider::refuses_cgroup_v1`).
pub const NODE_IMAGES: [NodeImages; 4] = [
    NodeImages {
        minor: "1.37",
        kind: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
        k3s: "rancher/k3s:v1.37.1-k3s1",
    },
    NodeImages {
        minor: "1.36",
        kind: "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
        k3s: "rancher/k3s:v1.36.4-k3s1",
    },
    NodeImages {
        minor: "1.35",
        kind: "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
        k3s: "rancher/k3s:v1.35.8-k3s1",
    },
    NodeImages {
        minor: "1.34",
        kind: "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",
        k3s: "rancher/k3s:v1.34.11-k3s1",
    },
];

pub const DEFAULT_KUBERNETES: &str = "1.36";

pub fn supported_minors() -> String {
    NODE_IMAGES.iter().map(|i| i.minor).collect::<Vec<_>>().join(", ")
}

/// The pinned images for a Kubernetes version written as `1.35` or `1.35.8` (the patch is the
/// pinned one, whatever is written: the node image decides it).
pub fn node_images(version: &str) -> Result<&'static NodeImages, String> {
    let trimmed = version.trim_start_matches('v');
    let parts: Vec<&str> = trimmed.split('.').collect();
    let numeric = parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !numeric || !(2..=3).contains(&parts.len()) {
        return Err(format!(
            "`kubernetes` = {version:?} is not a Kubernetes version\n  expected MAJOR.MINOR such as \"{DEFAULT_KUBERNETES}\"; supported: {}",
            supported_minors()
        ));
    }
    let minor = format!("{}.{}", parts[0], parts[1]);
    NODE_IMAGES.iter().find(|i| i.minor == minor).ok_or_else(|| {
        format!(
            "Kubernetes {minor} is not supported\n  devflow pins node images for {} (the Airflow chart needs 1.30 or later); pick one of them",
            supported_minors()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_pins_and_strangers_are_refused() {
        assert_eq!(node_images("1.35").unwrap().minor, "1.35");
        assert_eq!(node_images("v1.36.2").unwrap().minor, "1.36");
        assert!(node_images("1.20").unwrap_err().contains("not supported"));
        assert!(node_images("latest").unwrap_err().contains("not a Kubernetes version"));
        assert!(NODE_IMAGES.iter().all(|i| i.kind.contains("@sha256:")));
        assert!(node_images(DEFAULT_KUBERNETES).is_ok());
    }
}
