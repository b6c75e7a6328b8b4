//! The floor the watch is measured against: a client that makes the same HEAD requests a check
//! makes — the target's tag, each child in the target repository by digest, each source by tag —
//! [`AT_ONCE`] lists at a time with each list's HEADs all at once, and nothing else: no database,
//! no parsing, bearer tokens (on a token registry) fetched once per repository before the clock
//! starts.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use manifold::registry::media::MANIFEST_ACCEPT;
use serde_json::Value;

/// Lists the floor checks at once (as many as a watching process does).
pub const AT_ONCE: usize = 32;

/// One watched list's HEADs: (repository, tag or digest).
pub struct Probes(Vec<(String, String)>);

impl Probes {
    /// The HEADs a check of `list` (as `GET /lists` answers it) makes on registry `host`.
    pub fn of(list: &Value, host: &str) -> Self {
        let split = |reference: &str| {
            let path = reference
                .strip_prefix(&format!("{host}/"))
                .unwrap_or_else(|| panic!("{reference} is not on {host}"));
            let (repo, tag) = path.rsplit_once(':').expect("a tag");
            (repo.to_owned(), tag.to_owned())
        };
        let (repo, tag) = split(list["target"].as_str().expect("a target"));
        let entries = list["entries"].as_array().expect("entries");
        let children = entries.iter().map(|e| {
            let digest = e["digest"].as_str().expect("a digest");
            (repo.clone(), digest.to_owned())
        });
        let sources: Vec<_> = entries
            .iter()
            .map(|e| split(e["image"].as_str().expect("an image")))
            .collect();
        let mut probes = vec![(repo.clone(), tag)];
        probes.extend(children);
        probes.extend(sources);
        Self(probes)
    }
}

/// The floor's run over every list once.
pub struct FloorRun {
    pub took: Duration,
    pub requests: usize,
    /// Token requests made before the clock started.
    pub tokens: usize,
}

/// HEADs every probe of `lists` on `base` (`http://host`), [`AT_ONCE`] lists at a time; with a
/// token realm, a pull token per repository first.
pub async fn run(
    http: &reqwest::Client,
    base: &str,
    realm: Option<(&str, &str)>,
    lists: &[Probes],
) -> FloorRun {
    let repositories: BTreeSet<&str> = lists
        .iter()
        .flat_map(|l| l.0.iter().map(|(repo, _)| repo.as_str()))
        .collect();
    let mut tokens = HashMap::new();
    if let Some((realm, service)) = realm {
        for repo in &repositories {
            tokens.insert(*repo, token(http, realm, service, repo).await);
        }
    }
    let tokens = &tokens;
    let started = Instant::now();
    let requests: usize = futures::stream::iter(lists)
        .map(|list| async move {
            let heads = list.0.iter().map(|(repo, reference)| async move {
                let mut head = http
                    .head(format!("{base}/v2/{repo}/manifests/{reference}"))
                    .header("accept", MANIFEST_ACCEPT);
                if let Some(token) = tokens.get(repo.as_str()) {
                    head = head.bearer_auth(token);
                }
                let answer = head.send().await.expect("a HEAD");
                assert_eq!(answer.status(), 200, "HEAD {repo}:{reference}");
            });
            futures::future::join_all(heads).await.len()
        })
        .buffer_unordered(AT_ONCE)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    FloorRun {
        took: started.elapsed(),
        requests,
        tokens: tokens.len(),
    }
}

/// A pull token for `repo`, asked anonymously.
async fn token(http: &reqwest::Client, realm: &str, service: &str, repo: &str) -> String {
    let answer: Value = http
        .get(realm)
        .query(&[
            ("service", service),
            ("scope", &format!("repository:{repo}:pull")),
        ])
        .send()
        .await
        .expect("a token")
        .json()
        .await
        .expect("a token response");
    answer["token"]
        .as_str()
        .or(answer["access_token"].as_str())
        .expect("a token")
        .to_owned()
}
