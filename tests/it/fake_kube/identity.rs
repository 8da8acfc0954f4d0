//! The names and identities the cluster makes up: uids, generated name suffixes, container ids and
//! resource versions, each derived from a seed so that the same object keeps them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::view::time;

pub(super) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A generated name suffix in the alphabet of apimachinery's `pkg/util/rand/rand.go` (`alphanums`).
pub(super) fn suffix(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv(seed);
    (0..len)
        .map(|i| {
            if i % 8 == 7 {
                h = fnv(&format!("{seed}{h}"));
            }
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// A version-4-shaped UUID.
pub(super) fn uid(seed: &str) -> String {
    let a = fnv(seed);
    let b = fnv(&format!("{seed}/uid"));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// A resourceVersion that changes whenever the synthesised object's status does.
pub(super) fn resource_version(status: &Value) -> String {
    (fnv(&status.to_string()) % 1_000_000_000 + 1000).to_string()
}

/// The metadata every synthesised object starts from.
pub(super) fn meta(name: &str, ns: Option<&str>, created: f64, seed: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: ns.map(String::from),
        uid: Some(uid(seed)),
        resource_version: Some("1".into()),
        creation_timestamp: Some(time(created)),
        ..Default::default()
    }
}

/// Labels from string pairs.
pub(super) fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
