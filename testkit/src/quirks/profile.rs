//! One profile per registry: what each bends of the protocol, and where that was seen. Every
//! request a profile does not bend is the real registry's to answer.

use super::{Answer, Incoming, Upstream};

const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// A registry, as a double behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// GitHub Container Registry: the referrers API (`/v2/<name>/referrers/<digest>`) is answered
    /// with a redirect to an HTML page (`200 text/html`), not with a listing or a 404 — the
    /// "false 200" sigstore-js found when it probed the API
    /// (<https://github.com/sigstore/sigstore-js/pull/1187>).
    Ghcr,
    /// Google Container Registry / Artifact Registry: a Docker manifest list that carries
    /// `annotations` is refused with `400 MANIFEST_INVALID` "Failed to parse manifest … Failed to
    /// deserialize application/vnd.docker.distribution.manifest.list.v2+json"
    /// (<https://github.com/ko-build/ko/pull/385>); the referrers API redirects to a sign-in page
    /// on another host (here `localhost:PORT`, the double under another name), as issue 27's
    /// table records.
    Gcr,
    /// Amazon ECR: a cross-repository mount opens an upload session (`202`) unless blob mounting
    /// is turned on for the registry; `OCI-Subject` is answered to a manifest PUT naming a
    /// subject although the referrers API is absent (`404`, and `405` for an index); with
    /// `immutable`, a PUT to a tag that exists is refused with `400 TAG_INVALID` "The image tag
    /// '…' already exists in the '…' repository and cannot be overwritten because the tag is
    /// immutable." — whatever the digest (<https://github.com/aws/containers-roadmap/issues/862>,
    /// <https://github.com/osscontainertools/kaniko/pull/204>,
    /// <https://github.com/moby/buildkit/issues/3776>).
    Ecr {
        /// Whether the repository's tags are immutable.
        immutable: bool,
    },
    /// Amazon ECR with the referrers API: it lists an image's referrers, but answers the
    /// referrers of an index `405 UNSUPPORTED` (issue 27's table: "`405` on referrers of an
    /// index"; an index is a subject the API refuses, not a sign that there is no API). Every
    /// other request — the API for images included — is the registry's behind, which must serve
    /// the API (distribution 2.8 has none: the suite puts its referrers front there).
    EcrReferrers,
    /// Harbor: a list naming the same child digest twice is refused with `404 NOT_FOUND`
    /// "artifact <name>@<digest> not found" (<https://github.com/distribution/distribution/issues/4005>,
    /// a Harbor answer); a mount from a project that does not exist (here: a repository name
    /// without a project, `from=demo-amd64`) is answered `401 UNAUTHORIZED` "project … not found"
    /// instead of an upload session (<https://github.com/goharbor/harbor/issues/17097>).
    Harbor,
    /// Nexus: the PUT of a list is answered `400 BLOB_UNKNOWN` "blob unknown to registry",
    /// naming a child, for a while after its children were pushed; the same PUT passes a moment
    /// later (<https://github.com/estesp/manifest-tool/issues/191>) — here the first `late` list
    /// PUTs.
    Nexus {
        /// How many list PUTs are refused before one is taken.
        late: usize,
    },
    /// Gitea: a PUT of an OCI image index is answered `404 Not Found`, while the blobs and the
    /// images went in (<https://github.com/go-gitea/gitea/issues/37093>,
    /// <https://github.com/go-gitea/gitea/issues/26839>).
    Gitea,
    /// GitLab: the referrers API is answered with GitLab's HTML 404 page.
    GitLab,
    /// Quay: a manifest asked for without the type it is stored as in `Accept` is answered as
    /// schema 1 (<https://github.com/eclipse-che/che-plugin-registry/pull/2082>,
    /// <https://github.com/quay/quay-docs/issues/11>); manifests of the `legacy` repository exist
    /// only as schema 1.
    Quay {
        /// A repository whose manifests are schema 1 whatever is asked.
        legacy: Option<String>,
    },
    /// Trow: no cross-repository mount (a mount opens a new upload session, `202`); and its
    /// chunk `PATCH` answers (`202`, no body) carry a wrong `Content-Length` — here the chunk's
    /// length — which breaks HTTP/2 clients, as issue 27's table records of Trow over TLS (Trow
    /// set `Content-Length` on its answers itself, <https://github.com/Trow-Registry/trow/pull/237>).
    /// Only an HTTP/2 client sees it ([`super::QuirkProxy::start_tls`]): its headers arrive as
    /// given, so the `h2` client takes the empty answer for malformed (RFC 9113 §8.1.1) and resets
    /// the stream with `PROTOCOL_ERROR`; over HTTP/1.1 the proxy sends the answer's real length,
    /// and HTTP/1.1 clients push to Trow.
    Trow,
    /// A mount answered `201 Created` although the blob was not linked, so the manifest PUT that
    /// follows is refused with `MANIFEST_BLOB_UNKNOWN`. No registry is named: issue 27's table
    /// lists it as met in the wild; Harbor's replication reached the same end (a mount taken for
    /// done, then `MANIFEST_BLOB_UNKNOWN`, <https://github.com/goharbor/harbor/issues/18541>).
    PhantomMount,
    /// A fault, not a registry: a manifest PUT is refused with `403 DENIED` — to a tag (`tags`:
    /// a tag protection rule, a permission taken away between a push's children and its tags)
    /// or by digest (`!tags`: the children refused) — while every other request is the
    /// registry's. For the two phases of a publish to several registries.
    DeniedPuts {
        /// Whether PUTs to tags are refused (else PUTs by digest).
        tags: bool,
    },
}

impl Profile {
    /// The answer to `incoming`: the registry's, or what this registry answers instead.
    pub(super) async fn answer(&self, upstream: &Upstream, incoming: &Incoming) -> Answer {
        let target = path_and_query(incoming);
        match self {
            Self::Ghcr if incoming.referrers().is_some() => {
                Answer::new(302).header("Location", "/login?return_to=referrers")
            }
            Self::Gcr if incoming.referrers().is_some() => {
                let port = incoming.host.rsplit(':').next().unwrap_or_default();
                let sign_in = format!("http://localhost:{port}/login?continue=referrers");
                Answer::new(302).header("Location", &sign_in)
            }
            Self::Ghcr | Self::Gcr if incoming.path == "/login" => Answer::html(200, SIGN_IN),
            Self::Gcr if is_docker_list_with_annotations(incoming) => {
                let (name, reference) = incoming.manifest().unwrap_or_default();
                Answer::error(
                    400,
                    "MANIFEST_INVALID",
                    &format!(
                        "Failed to parse manifest for request \"/v2/{name}/manifests/{reference}\": \
                         Failed to deserialize {DOCKER_LIST}."
                    ),
                )
            }
            Self::Ecr { immutable } => ecr(*immutable, upstream, incoming, &target).await,
            Self::EcrReferrers if is_index_subject(upstream, incoming).await => {
                Answer::error(405, "UNSUPPORTED", "The operation is unsupported.")
            }
            Self::Harbor
                if is_mount(incoming)
                    && query_value(incoming, "from").is_some_and(|f| !f.contains('/')) =>
            {
                let project = query_value(incoming, "from").unwrap_or_default();
                let message = format!("project {project} not found: project {project} not found");
                Answer::error(401, "UNAUTHORIZED", &message)
            }
            Self::Harbor if incoming.method == "PUT" => match repeated_child(incoming) {
                Some(digest) => {
                    let (name, _) = incoming.manifest().unwrap_or_default();
                    Answer::error(
                        404,
                        "NOT_FOUND",
                        &format!("artifact {name}@{digest} not found"),
                    )
                }
                None => upstream.send(incoming, &target).await,
            },
            Self::Gitea
                if incoming.method == "PUT"
                    && incoming.manifest().is_some()
                    && incoming.content_type.starts_with(OCI_INDEX) =>
            {
                Answer::new(404)
            }
            Self::Nexus { late } if is_list_put(incoming) && upstream.count_up() < *late => {
                let doc = incoming.json().unwrap_or_default();
                let child = doc["manifests"][0]["digest"].as_str().unwrap_or_default();
                Answer::error(
                    400,
                    "BLOB_UNKNOWN",
                    &format!("blob unknown to registry: {child}"),
                )
            }
            Self::GitLab if incoming.referrers().is_some() => Answer::html(404, NOT_FOUND_PAGE),
            Self::Quay { legacy } => quay(legacy.as_deref(), upstream, incoming, &target).await,
            Self::Trow if is_mount(incoming) => {
                upstream.send(incoming, &without_mount(incoming)).await
            }
            Self::Trow if incoming.method == "PATCH" => {
                let answer = upstream.send(incoming, &target).await;
                if answer.status == 202 && answer.get("content-length").is_none() {
                    let wrong = incoming.body.len().max(1).to_string();
                    answer.header("Content-Length", &wrong)
                } else {
                    answer
                }
            }
            Self::PhantomMount if is_mount(incoming) => {
                let digest = query_value(incoming, "mount").unwrap_or_default();
                let (name, _) = incoming.path[4..].split_once("/blobs/").unwrap_or_default();
                Answer::new(201)
                    .header("Location", &format!("/v2/{name}/blobs/{digest}"))
                    .header("Docker-Content-Digest", &digest)
            }
            Self::DeniedPuts { tags }
                if incoming.method == "PUT"
                    && incoming
                        .manifest()
                        .is_some_and(|(_, r)| r.starts_with("sha256:") != *tags) =>
            {
                let (name, reference) = incoming.manifest().unwrap_or_default();
                Answer::error(
                    403,
                    "DENIED",
                    &format!("requested access to the resource is denied: {name}:{reference}"),
                )
            }
            _ => upstream.send(incoming, &target).await,
        }
    }
}

/// ECR: mounts refused, `OCI-Subject` without a referrers API, immutable tags.
async fn ecr(immutable: bool, upstream: &Upstream, incoming: &Incoming, target: &str) -> Answer {
    if is_mount(incoming) {
        return upstream.send(incoming, &without_mount(incoming)).await;
    }
    if incoming.referrers().is_some() {
        return if is_index_subject(upstream, incoming).await {
            Answer::error(405, "UNSUPPORTED", "The operation is unsupported.")
        } else {
            Answer::error(404, "NOT_FOUND", "Requested resource not found")
        };
    }
    let Some((name, reference)) = incoming.manifest().filter(|_| incoming.method == "PUT") else {
        return upstream.send(incoming, target).await;
    };
    if immutable
        && !reference.starts_with("sha256:")
        && upstream.manifest(name, reference).await.is_some()
    {
        return Answer::error(
            400,
            "TAG_INVALID",
            &format!(
                "The image tag '{reference}' already exists in the '{name}' repository and cannot \
                 be overwritten because the tag is immutable."
            ),
        );
    }
    let answer = upstream.send(incoming, target).await;
    let subject = incoming
        .json()
        .and_then(|doc| doc["subject"]["digest"].as_str().map(str::to_owned));
    match subject {
        Some(subject) if answer.status == 201 => answer.header("OCI-Subject", &subject),
        _ => answer,
    }
}

/// Whether a request asks the referrers API about an index the registry holds.
async fn is_index_subject(upstream: &Upstream, incoming: &Incoming) -> bool {
    let Some((name, digest)) = incoming.referrers() else {
        return false;
    };
    upstream
        .manifest(name, digest)
        .await
        .is_some_and(|(_, media_type)| media_type == OCI_INDEX || media_type == DOCKER_LIST)
}

/// Quay: schema 1 to a narrow `Accept`, and for the legacy repository.
async fn quay(
    legacy: Option<&str>,
    upstream: &Upstream,
    incoming: &Incoming,
    target: &str,
) -> Answer {
    let Some((name, reference)) = incoming.manifest().filter(|_| incoming.method == "GET") else {
        return upstream.send(incoming, target).await;
    };
    let answer = upstream.send(incoming, target).await;
    let stored = answer.get("content-type").unwrap_or_default().to_owned();
    let narrow = !incoming
        .accept
        .split(',')
        .any(|t| t.trim().starts_with(stored.as_str()));
    if answer.status != 200 || (!narrow && legacy != Some(name)) {
        return answer;
    }
    let schema1 = serde_json::json!({
        "schemaVersion": 1,
        "name": name,
        "tag": reference,
        "architecture": "amd64",
        "fsLayers": [],
        "history": [],
        "signatures": [],
    });
    Answer::new(200)
        .header("Content-Type", SCHEMA1_SIGNED)
        .body(serde_json::to_vec_pretty(&schema1).unwrap_or_default())
}

/// The path and query a request was sent to.
fn path_and_query(incoming: &Incoming) -> String {
    if incoming.query.is_empty() {
        incoming.path.clone()
    } else {
        format!("{}?{}", incoming.path, incoming.query)
    }
}

/// Whether a request is a cross-repository mount.
fn is_mount(incoming: &Incoming) -> bool {
    incoming.method == "POST"
        && incoming.path.ends_with("/blobs/uploads/")
        && incoming.query.contains("mount=")
}

/// A mount's request as a plain upload start (what a registry without mounts does with it).
fn without_mount(incoming: &Incoming) -> String {
    incoming.path.clone()
}

/// The value of a query parameter, decoded.
fn query_value(incoming: &Incoming, name: &str) -> Option<String> {
    url::form_urlencoded::parse(incoming.query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Whether a request PUTs a Docker manifest list with annotations (the list's or an entry's).
fn is_docker_list_with_annotations(incoming: &Incoming) -> bool {
    if incoming.method != "PUT" || !incoming.content_type.starts_with(DOCKER_LIST) {
        return false;
    }
    let Some(doc) = incoming.json() else {
        return false;
    };
    let entries = doc["manifests"].as_array().cloned().unwrap_or_default();
    doc.get("annotations").is_some() || entries.iter().any(|e| e.get("annotations").is_some())
}

/// Whether a request PUTs a list (a manifest naming `manifests`).
fn is_list_put(incoming: &Incoming) -> bool {
    incoming.method == "PUT"
        && incoming.manifest().is_some()
        && incoming
            .json()
            .is_some_and(|doc| doc["manifests"].is_array())
}

/// The first child digest a PUT list names twice.
fn repeated_child(incoming: &Incoming) -> Option<String> {
    incoming.manifest()?;
    let doc = incoming.json()?;
    let mut seen = std::collections::HashSet::new();
    doc["manifests"]
        .as_array()?
        .iter()
        .filter_map(|e| e["digest"].as_str())
        .find(|d| !seen.insert(*d))
        .map(str::to_owned)
}

const SIGN_IN: &str = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\
<body><form action=\"/session\" method=\"post\"><input name=\"login\"></form></body></html>\n";

const NOT_FOUND_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>The page you're looking for \
could not be found (404)</title></head><body><h1>404</h1><p>The page could not be found or you \
don't have permission to view it.</p></body></html>\n";
