//! Image references in the distribution grammar, with Docker Hub normalisation.
//!
//! `ubuntu` → `docker.io/library/ubuntu:latest`; a first path component names a registry only when it
//! has a `.` or `:`, is `localhost`, or has upper-case letters. A reference with both a tag and a digest
//! keeps both; the digest is what is fetched.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The registry a reference without a host lives on.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not a valid reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference \"{input}\": {reason}")]
pub struct ReferenceError {
    /// The text that was parsed.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Reference {
    /// Parses `[host[:port]/]path[:tag][@digest]`.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let fail = |reason: &str| ReferenceError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(fail("it is empty"));
        }
        if input.trim() != input || input.contains(char::is_whitespace) {
            return Err(fail("it contains white space"));
        }
        if let Some((scheme, _)) = input.split_once("://") {
            return Err(fail(&format!(
                "a reference has no scheme: drop \"{scheme}://\" (a registry on plain HTTP is \
                 reached with --plain-http; loopback registries need nothing)"
            )));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                super::Digest::parse(digest).map_err(|r| fail(&r.to_string()))?;
                (rest, Some(digest.to_owned()))
            }
            None => (input, None),
        };
        // A tag follows the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let (name, tag) = rest.split_at(last_slash + i);
                (name, Some(tag[1..].to_owned()))
            }
            None => (rest, None),
        };
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(|r| fail(&r))?;
        }
        let (registry, path) = split_registry(name);
        if let Some(registry) = registry {
            validate_host(registry).map_err(|r| fail(&r))?;
        }
        validate_path(path).map_err(|r| fail(&r))?;
        let registry = match registry {
            None | Some("index.docker.io") => DOCKER_HUB.to_owned(),
            Some(host) => host.to_owned(),
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(fail("the name is longer than 255 characters"));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            _ => tag,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as written (`docker.io` for Docker Hub), with its port.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host and port the registry API is reached on.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository path inside the registry (`library/ubuntu`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was given (or `latest` when neither tag nor digest was).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// What goes after `/manifests/` in the API: the digest when there is one, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned to a digest (the tag is dropped).
    pub fn with_digest(&self, digest: &super::Digest) -> Self {
        Self {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Whether `other` names the same repository (of the same registry), whatever its tag.
    pub fn same_repository(&self, other: &Reference) -> bool {
        self.registry == other.registry && self.repository == other.repository
    }

    /// Whether the registry is on a loopback address (`localhost`, 127.0.0.0/8, `::1`).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

/// Whether `host[:port]` names a loopback address.
pub fn is_loopback_host(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn validate_host(host: &str) -> Result<(), String> {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let (addr, rest) = v6
            .split_once(']')
            .ok_or_else(|| format!("registry host \"{host}\" has an unclosed '['"))?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("registry host \"{host}\" is not an IPv6 address"))?;
        (None, rest.strip_prefix(':'))
    } else {
        match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    if let Some(name) = name {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !name.split('.').all(label_ok) {
            return Err(format!("registry host \"{host}\" is not a valid host name"));
        }
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!(
            "registry port \"{port}\" is not a number from 0 to 65535"
        ));
    }
    Ok(())
}

fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the repository name is empty".to_owned());
    }
    for component in path.split('/') {
        if !valid_component(component) {
            return Err(format!(
                "repository component \"{component}\" must be lower-case letters and digits, \
                 separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: one '.', one '_', two '_', or any number of '-'.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok || tag.len() > MAX_TAG_LEN {
        return Err(format!(
            "tag \"{tag}\" must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ));
    }
    Ok(())
}

/// Checks a bare tag (as in a spec's `tags` list).
pub fn check_tag(tag: &str) -> Result<(), String> {
    validate_tag(tag)
}

/// Most extra tags one push writes (each is a PUT of the list).
pub const MAX_TAGS: usize = 100;

/// Checks how many extra tags are asked for.
pub fn check_tag_count(count: usize) -> Result<(), String> {
    if count > MAX_TAGS {
        return Err(format!(
            "{count} extra tags; a push writes at most {MAX_TAGS} (each is one more PUT of the list)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_reference_with_a_scheme_says_references_have_none() {
        for input in [
            "http://127.0.0.1:5000/demo:v1",
            "https://registry.example/demo",
        ] {
            let err = Reference::parse(input).unwrap_err();
            assert!(err.reason.contains("has no scheme"), "{}", err.reason);
            assert!(err.reason.contains("--plain-http"), "{}", err.reason);
        }
    }

    #[test]
    fn a_bare_name_is_an_official_docker_hub_image_at_latest() {
        let r = Reference::parse("ubuntu").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/ubuntu:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
    }

    #[test]
    fn a_user_repository_on_docker_hub_gets_no_library_prefix() {
        let r = Reference::parse("estesp/manifest-tool:v2").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "estesp/manifest-tool");
        assert_eq!(r.tag(), Some("v2"));
    }

    #[test]
    fn a_first_component_with_a_port_or_dot_or_localhost_is_a_registry() {
        let r = Reference::parse("127.0.0.1:5000/demo-s390x:v0.2").unwrap();
        assert_eq!(
            (r.registry(), r.repository()),
            ("127.0.0.1:5000", "demo-s390x")
        );
        assert!(r.is_loopback());
        let r = Reference::parse("localhost/a/b").unwrap();
        assert_eq!((r.registry(), r.repository()), ("localhost", "a/b"));
        let r = Reference::parse(&format!("ghcr.io/o/p@{D}")).unwrap();
        assert_eq!(r.digest(), Some(D));
        assert_eq!(r.tag(), None);
        assert!(!r.is_loopback());
    }

    #[test]
    fn tag_and_digest_together_keep_the_digest_for_fetching() {
        let r = Reference::parse(&format!("reg.io:5000/demo:v1@{D}")).unwrap();
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.manifest_ref(), D);
    }

    #[test]
    fn ipv6_loopback_registry_is_recognised() {
        let r = Reference::parse("[::1]:5000/demo:v1").unwrap();
        assert_eq!(r.registry(), "[::1]:5000");
        assert!(r.is_loopback());
    }

    #[test]
    fn invalid_references_name_the_fault() {
        for (input, fault) in [
            ("", "empty"),
            ("Demo:v1", "lower-case"),
            ("reg.io/demo:-bad", "tag"),
            ("reg.io/demo@sha256:abc", "64"),
            ("reg.io:99999/demo", "port"),
            ("reg.io/de..mo", "component"),
            ("reg.io/demo v1", "white space"),
            ("reg.io/demo@md5:00", "algorithm"),
        ] {
            let err = Reference::parse(input).unwrap_err();
            assert!(err.to_string().contains(fault), "{input}: {err}");
        }
    }

    #[test]
    fn separators_follow_the_grammar() {
        assert!(valid_component("a__b"));
        assert!(valid_component("a---b"));
        assert!(valid_component("a.b_c"));
        assert!(!valid_component("a___b"));
        assert!(!valid_component("_a"));
        assert!(!valid_component("a-"));
    }
}
