//! Staged releases: what a submission asks of one ([`Staging`]: the platforms the release must
//! have, its key, its deadline and what the deadline does) and how the platforms that arrived
//! from several jobs make the release's list ([`compose`]): the latest arrival of a platform
//! replaces an earlier one, images in the order the release expects them (others after, as they
//! arrived), then the attestations of the images kept.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Entry, Platform};

/// The deadline of a release that names none: a day.
pub const DEFAULT_DEADLINE_SECS: u64 = 24 * 60 * 60;

/// The longest deadline a release may ask for: a week.
pub const MAX_DEADLINE_SECS: u64 = 7 * 24 * 60 * 60;

/// The most platforms a release may expect.
pub const MAX_EXPECTED: usize = 128;

/// The longest release key.
pub const MAX_KEY_LEN: usize = 255;

/// What a release's deadline does when platforms are still missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnDeadline {
    /// The release fails, naming the missing platforms; the tag is not moved.
    #[default]
    Fail,
    /// The list is pushed with the platforms that arrived.
    Push,
}

/// A submission's part of a staged release, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staging {
    /// The platforms the release must have before its tag moves (normalised, distinct).
    pub expect: Vec<Platform>,
    /// The release's key; none means the target itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Seconds from the release's first submission until its deadline.
    pub deadline_secs: u64,
    /// What the deadline does.
    #[serde(default)]
    pub on_deadline: OnDeadline,
}

impl Staging {
    /// A staging request from what a spec or a request says, checked: at least one platform,
    /// each valid and named once; a key of printable characters; a deadline within a week.
    /// Errors name the field at fault.
    pub fn new(
        expect: &[String],
        release: Option<&str>,
        deadline_secs: Option<u64>,
        on_deadline: Option<OnDeadline>,
    ) -> Result<Self, (&'static str, String)> {
        if expect.is_empty() {
            return Err((
                "expect",
                "names no platform; a release expects at least one".into(),
            ));
        }
        if expect.len() > MAX_EXPECTED {
            return Err((
                "expect",
                format!("names {} platforms; at most {MAX_EXPECTED}", expect.len()),
            ));
        }
        let mut platforms: Vec<Platform> = Vec::new();
        for text in expect {
            let platform = Platform::parse(text).map_err(|e| ("expect", e))?;
            if platforms.iter().any(|p| p.same_as(&platform)) {
                return Err(("expect", format!("names {platform} twice")));
            }
            platforms.push(platform);
        }
        let release = match release.map(str::trim) {
            None => None,
            Some("") => return Err(("release", "is empty; leave it out to use the target".into())),
            Some(key) if key.len() > MAX_KEY_LEN => {
                return Err(("release", format!("is over {MAX_KEY_LEN} bytes")));
            }
            Some(key) if key.chars().any(char::is_control) => {
                return Err(("release", "holds a control character".into()));
            }
            Some(key) => Some(key.to_owned()),
        };
        let deadline_secs = deadline_secs.unwrap_or(DEFAULT_DEADLINE_SECS);
        if deadline_secs == 0 || deadline_secs > MAX_DEADLINE_SECS {
            return Err((
                "deadline_secs",
                format!("is {deadline_secs}; give 1 to {MAX_DEADLINE_SECS} seconds (a week)"),
            ));
        }
        Ok(Self {
            expect: platforms,
            release,
            deadline_secs,
            on_deadline: on_deadline.unwrap_or_default(),
        })
    }

    /// The expected platforms as they are written (`linux/arm64`), in order.
    pub fn expected(&self) -> Vec<String> {
        self.expect.iter().map(ToString::to_string).collect()
    }

    /// The release's key: its own, or the target's.
    pub fn key(&self, target: &str) -> String {
        self.release.clone().unwrap_or_else(|| target.to_owned())
    }
}

/// Whether two lists of expected platforms name the same set.
pub fn same_platforms(a: &[Platform], b: &[Platform]) -> bool {
    a.len() == b.len() && a.iter().all(|p| b.iter().any(|q| q.same_as(p)))
}

/// One job's staged entries: the list that brought them, in submission order.
#[derive(Debug, Clone)]
pub struct StagedList<K> {
    /// The list that brought them.
    pub list: K,
    /// Its entries (images and their attestations).
    pub entries: Vec<Entry>,
}

/// One platform of a release that arrived, and the list it arrived with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrived<K> {
    /// The platform.
    pub platform: Platform,
    /// The list that brought it (the latest, when several did).
    pub list: K,
    /// The image's entry.
    pub entry: Entry,
}

/// What a release holds now.
#[derive(Debug, Clone)]
pub struct Composed<K> {
    /// The platforms that arrived: the expected ones in their order, then others as they came.
    pub arrived: Vec<Arrived<K>>,
    /// The expected platforms that did not.
    pub awaited: Vec<Platform>,
    /// The list's entries: the images of `arrived`, then the attestations of those images.
    pub entries: Vec<Entry>,
}

impl<K> Composed<K> {
    /// Whether every expected platform arrived.
    pub fn complete(&self) -> bool {
        self.awaited.is_empty()
    }

    /// The awaited platforms as written, joined by commas.
    pub fn awaited_text(&self) -> String {
        let names: Vec<String> = self.awaited.iter().map(ToString::to_string).collect();
        names.join(", ")
    }
}

/// The annotation by which buildx ties an attestation to its image.
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// The release that `staged` (in submission order) make of the `expect`ed platforms.
pub fn compose<K: Clone>(expect: &[Platform], staged: &[StagedList<K>]) -> Composed<K> {
    let mut images: Vec<Arrived<K>> = Vec::new();
    for list in staged {
        for entry in list.entries.iter().filter(|e| !e.attestation) {
            let Some(platform) = entry.platform.clone() else {
                continue;
            };
            let arrived = Arrived {
                platform,
                list: list.list.clone(),
                entry: entry.clone(),
            };
            match images
                .iter_mut()
                .find(|a| a.platform.same_as(&arrived.platform))
            {
                Some(slot) => *slot = arrived,
                None => images.push(arrived),
            }
        }
    }
    let mut arrived = Vec::with_capacity(images.len());
    let mut awaited = Vec::new();
    for platform in expect {
        match images.iter().position(|a| a.platform.same_as(platform)) {
            Some(i) => arrived.push(images.remove(i)),
            None => awaited.push(platform.clone()),
        }
    }
    arrived.extend(images);
    let kept: BTreeSet<&str> = arrived.iter().map(|a| a.entry.digest.as_str()).collect();
    let mut attestations: Vec<Entry> = Vec::new();
    for entry in staged
        .iter()
        .flat_map(|s| &s.entries)
        .filter(|e| e.attestation)
    {
        let of = entry.annotations.get(REFERENCE_DIGEST).map(String::as_str);
        let new = !attestations.iter().any(|a| a.digest == entry.digest);
        if of.is_some_and(|d| kept.contains(d)) && new {
            attestations.push(entry.clone());
        }
    }
    let entries = arrived
        .iter()
        .map(|a| a.entry.clone())
        .chain(attestations)
        .collect();
    Composed {
        arrived,
        awaited,
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Digest;

    fn image(platform: &str, n: u8) -> Entry {
        Entry {
            image: format!("127.0.0.1:5000/demo-{n}:v1"),
            digest: Digest::of(&[n]),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 100 + u64::from(n),
            platform: Some(Platform::parse(platform).unwrap()),
            annotations: Default::default(),
            attestation: false,
        }
    }

    fn attestation(of: &Entry, n: u8) -> Entry {
        Entry {
            platform: None,
            attestation: true,
            annotations: [(REFERENCE_DIGEST.to_owned(), of.digest.to_string())].into(),
            ..image("linux/amd64", n)
        }
    }

    fn expect(platforms: &[&str]) -> Vec<Platform> {
        platforms
            .iter()
            .map(|p| Platform::parse(p).unwrap())
            .collect()
    }

    #[test]
    fn a_release_is_complete_when_every_expected_platform_arrived_in_the_expected_order() {
        let expected = expect(&["linux/amd64", "linux/arm64", "linux/s390x"]);
        let (amd, arm, s390x) = (
            image("linux/amd64", 1),
            image("linux/arm64", 2),
            image("linux/s390x", 3),
        );
        let staged = vec![
            StagedList {
                list: "c",
                entries: vec![s390x.clone()],
            },
            StagedList {
                list: "a",
                entries: vec![amd.clone(), attestation(&amd, 9)],
            },
        ];

        let partial = compose(&expected, &staged);
        assert!(!partial.complete());
        assert_eq!(partial.awaited_text(), "linux/arm64");

        let mut all = staged.clone();
        all.push(StagedList {
            list: "b",
            entries: vec![arm.clone()],
        });
        let done = compose(&expected, &all);
        assert!(done.complete());
        let digests: Vec<_> = done.entries.iter().map(|e| e.digest.clone()).collect();
        assert_eq!(
            digests,
            vec![
                amd.digest.clone(),
                arm.digest,
                s390x.digest,
                Digest::of(&[9])
            ],
            "images in the expected order whatever the arrival order, then attestations"
        );
        assert_eq!(done.arrived[0].list, "a");
    }

    #[test]
    fn a_later_arrival_of_a_platform_replaces_the_earlier_and_its_attestation() {
        let expected = expect(&["linux/amd64"]);
        let (first, second) = (image("linux/amd64", 1), image("linux/amd64", 2));
        let staged = vec![
            StagedList {
                list: 1,
                entries: vec![first.clone(), attestation(&first, 8)],
            },
            StagedList {
                list: 2,
                entries: vec![second.clone(), image("linux/riscv64", 3)],
            },
        ];

        let done = compose(&expected, &staged);

        assert!(done.complete());
        assert_eq!(done.arrived[0].list, 2);
        assert_eq!(done.arrived[0].entry.digest, second.digest);
        assert_eq!(
            done.arrived.len(),
            2,
            "an unexpected platform is kept after"
        );
        assert!(
            done.entries.iter().all(|e| !e.attestation),
            "the replaced image's attestation goes with it"
        );
    }

    #[test]
    fn a_staging_request_names_the_field_at_fault() {
        let err = |e: &[&str], d: Option<u64>| {
            let e: Vec<String> = e.iter().map(|s| s.to_string()).collect();
            Staging::new(&e, None, d, None).unwrap_err()
        };
        assert_eq!(err(&[], None).0, "expect");
        assert!(
            err(&["linux/arm64", "linux/arm64/v8"], None)
                .1
                .contains("twice")
        );
        assert_eq!(err(&["linux"], None).0, "expect");
        assert_eq!(err(&["linux/amd64"], Some(0)).0, "deadline_secs");
        let ok = Staging::new(&["linux/arm64".into()], Some(" v1 "), None, None).unwrap();
        assert_eq!(ok.key("x"), "v1");
        assert_eq!(ok.deadline_secs, DEFAULT_DEADLINE_SECS);
        assert!(same_platforms(&ok.expect, &expect(&["linux/arm64/v8"])));
        assert!(!same_platforms(&ok.expect, &expect(&["linux/amd64"])));
    }
}
