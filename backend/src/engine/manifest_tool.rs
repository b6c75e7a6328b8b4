//! The list document as manifest-tool v2 writes it (`format: manifest-tool`): the same entries,
//! serialised byte for byte as its Go code does — `json.MarshalIndent` with two spaces, the field
//! order of its Go types (a Docker entry's `size` before its `digest`, an OCI entry's
//! `annotations` before its `platform`), `<`, `>`, `&`, U+2028 and U+2029 escaped as
//! `encoding/json` escapes them — and its choice of type: a Docker manifest list unless an OCI
//! index is asked for (or annotations, which manifest-tool refuses in a Docker list), holding what
//! manifest-tool puts in one (OCI images, attestations). A team moving from manifest-tool keeps
//! its lists' digests.
//!
//! What manifest-tool's types cannot carry is left out: a Docker entry's `urls`, a platform's
//! `features`. The entries themselves (which children, their platforms) are the plan's.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::EngineError;
use super::resolve::Resolved;
use crate::model::{Digest, ListType, Platform};
use crate::registry::Descriptor;
use crate::registry::media::{self, DOCKER_LIST, OCI_INDEX};

/// The type manifest-tool gives the list: OCI when asked for, Docker otherwise (its default) —
/// but for `auto` with annotations, which only an OCI index holds. A Docker list keeps OCI
/// images and attestations, as manifest-tool's does.
pub(super) fn choose_type(
    list_type: ListType,
    annotations: &BTreeMap<String, String>,
    entries: &[Resolved],
) -> Result<&'static str, EngineError> {
    let docker = match list_type {
        ListType::Docker => true,
        ListType::Oci => false,
        ListType::Auto => annotations.is_empty(),
    };
    if !docker {
        return Ok(OCI_INDEX);
    }
    if !annotations.is_empty() {
        return Err(EngineError::Invalid(
            "a Docker manifest list does not support annotations; use --type oci (or type: oci)"
                .to_owned(),
        ));
    }
    if let Some(oci) = entries
        .iter()
        .find(|e| !e.attestation && media::is_oci(&e.descriptor.media_type))
    {
        tracing::warn!(
            "{} is an OCI image: the Docker manifest list holds it as manifest-tool's would; \
             --type oci makes an OCI index",
            oci.source
        );
    }
    Ok(DOCKER_LIST)
}

/// The bytes manifest-tool pushes for these entries as a list of `media_type`.
pub(super) fn serialise(
    media_type: &str,
    annotations: &BTreeMap<String, String>,
    entries: &[Resolved],
) -> Result<Vec<u8>, EngineError> {
    let descriptors = entries.iter().map(|e| &e.descriptor);
    if media_type == DOCKER_LIST {
        go_json(&DockerList {
            schema_version: 2,
            media_type: DOCKER_LIST,
            manifests: descriptors.map(DockerEntry::of).collect(),
        })
    } else {
        go_json(&OciIndex {
            schema_version: 2,
            media_type: OCI_INDEX,
            manifests: descriptors.map(OciEntry::of).collect(),
            annotations,
        })
    }
}

/// `value` as Go's `json.MarshalIndent(value, "", "  ")` writes it: serde_json's pretty form is
/// Go's, but for the characters Go also escapes for HTML, which can only stand inside strings.
fn go_json(value: &impl Serialize) -> Result<Vec<u8>, EngineError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| EngineError::Invalid(e.to_string()))?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out.into_bytes())
}

/// distribution's `manifestlist.ManifestList`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerList<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<DockerEntry<'a>>,
}

/// distribution's `manifestlist.ManifestDescriptor` as manifest-tool fills it: no `urls`, and a
/// platform always (Go's zero value where the entry has none).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerEntry<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    media_type: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    size: u64,
    digest: &'a Digest,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
    platform: GoPlatform<'a>,
}

impl<'a> DockerEntry<'a> {
    fn of(d: &'a Descriptor) -> Self {
        Self {
            media_type: &d.media_type,
            size: d.size,
            digest: &d.digest,
            annotations: &d.annotations,
            platform: d.platform.as_ref().map(GoPlatform::of).unwrap_or_default(),
        }
    }
}

/// image-spec's `v1.Index` as manifest-tool fills it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciIndex<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<OciEntry<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// image-spec's `v1.Descriptor`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciEntry<'a> {
    media_type: &'a str,
    digest: &'a Digest,
    size: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    urls: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<GoPlatform<'a>>,
    #[serde(skip_serializing_if = "str::is_empty")]
    artifact_type: &'a str,
}

impl<'a> OciEntry<'a> {
    fn of(d: &'a Descriptor) -> Self {
        Self {
            media_type: &d.media_type,
            digest: &d.digest,
            size: d.size,
            urls: &d.urls,
            annotations: &d.annotations,
            platform: d.platform.as_ref().map(GoPlatform::of),
            artifact_type: d.artifact_type.as_deref().unwrap_or_default(),
        }
    }
}

/// image-spec's `v1.Platform` (distribution's `PlatformSpec` as manifest-tool fills it is the
/// same): no `features`, empty strings left out.
#[derive(Serialize, Default)]
struct GoPlatform<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(rename = "os.version", skip_serializing_if = "str::is_empty")]
    os_version: &'a str,
    #[serde(rename = "os.features", skip_serializing_if = "<[String]>::is_empty")]
    os_features: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    variant: &'a str,
}

impl<'a> GoPlatform<'a> {
    fn of(p: &'a Platform) -> Self {
        Self {
            architecture: &p.architecture,
            os: &p.os,
            os_version: p.os_version.as_deref().unwrap_or_default(),
            os_features: &p.os_features,
            variant: p.variant.as_deref().unwrap_or_default(),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    //! The expected bytes are what manifest-tool v2.2.1 pushed for the same entries, recorded as
    //! `tests/golden/manifest-tool/README.md` says.

    use super::*;
    use crate::model::Reference;

    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/manifest-tool");
    const DOCKER: &str = "application/vnd.docker.distribution.manifest.v2+json";
    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

    fn golden(name: &str) -> Vec<u8> {
        std::fs::read(format!("{GOLDEN}/{name}")).unwrap()
    }

    fn platform(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            architecture: arch.into(),
            os: os.into(),
            variant: variant.map(str::to_owned),
            ..Platform::default()
        }
    }

    fn image(media_type: &str, hex: &str, size: u64, platform: Platform) -> Resolved {
        let digest = Digest::parse(&format!("sha256:{hex}")).unwrap();
        Resolved {
            source: Reference::parse("r.test/src:v1").unwrap(),
            descriptor: Descriptor {
                media_type: media_type.into(),
                digest,
                size,
                urls: Vec::new(),
                platform: Some(platform),
                annotations: BTreeMap::new(),
                artifact_type: None,
            },
            manifest: None,
            attestation: false,
        }
    }

    fn attestation(hex: &str, of: &str) -> Resolved {
        let mut entry = image(OCI, hex, 465, platform("unknown", "unknown", None));
        entry.descriptor.annotations = BTreeMap::from([
            ("vnd.docker.reference.digest".into(), format!("sha256:{of}")),
            (
                "vnd.docker.reference.type".into(),
                "attestation-manifest".into(),
            ),
        ]);
        entry.attestation = true;
        entry
    }

    const AMD64: &str = "4fe491def9f1768fbfed0277caa7edd3c9f5d307a695c1f5ef31de0d574fdaf8";
    const S390X: &str = "13a61fc62eb8992f70d3d2ba3e191f6046cea075bf95bde86949091af0abc149";
    const ARM64: &str = "89b2c424bb9097f8f5f1934dedad6ee4e7cc1b20b9e4f482ded9d0fc64b0f77c";

    /// `entries` as manifest-tool types them for `list_type`, serialised: bytes and digest.
    fn written(
        list_type: ListType,
        annotations: &BTreeMap<String, String>,
        entries: &[Resolved],
    ) -> (Vec<u8>, String) {
        let media_type = choose_type(list_type, annotations, entries).unwrap();
        let bytes = serialise(media_type, annotations, entries).unwrap();
        let digest = Digest::of(&bytes).to_string();
        (bytes, digest)
    }

    #[test]
    fn a_docker_list_is_written_as_manifest_tool_writes_it_by_default() {
        let entries = [
            image(DOCKER, AMD64, 583, platform("linux", "amd64", None)),
            image(DOCKER, S390X, 583, platform("linux", "s390x", None)),
            image(DOCKER, ARM64, 583, platform("linux", "arm64", Some("v8"))),
        ];

        let (bytes, digest) = written(ListType::Auto, &BTreeMap::new(), &entries);

        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            String::from_utf8(golden("docker.json")).unwrap()
        );
        assert_eq!(
            digest,
            "sha256:e04a6da5a0f9e50ede64204063d8a674a2cb64cec5aa188ecce41d788388f240"
        );
    }

    #[test]
    fn an_oci_index_escapes_annotations_as_go_does_and_sorts_them() {
        let entries = [
            image(
                OCI,
                "ea7d178f3b4e205c30dc02c7d3e093b703653ba7173a7f685deba039c47bfbc4",
                555,
                platform("linux", "amd64", None),
            ),
            image(
                OCI,
                "af4b76752ae7acc801a020c0000867086677e6982ba000a2077050ba55013d1f",
                555,
                platform("linux", "arm", Some("v7")),
            ),
        ];
        let annotations = BTreeMap::from([
            (
                "org.opencontainers.image.description".to_owned(),
                "a <small> & simple index — ok".to_owned(),
            ),
            ("org.example.b".to_owned(), "2".to_owned()),
        ]);

        let (bytes, digest) = written(ListType::Auto, &annotations, &entries);

        assert_eq!(bytes, golden("oci-annotated.json"));
        assert_eq!(
            digest,
            "sha256:ece2ba702d3e99b60381c974bcd64e2994e741f0d3701f3169cdd8d9943b73a7"
        );
        let oci = written(ListType::Oci, &annotations, &entries);
        assert_eq!(oci.1, digest, "auto with annotations is --type oci");
    }

    #[test]
    fn a_docker_list_keeps_oci_images_and_attestations_and_an_oci_index_their_order() {
        let (amd64, arm64) = (
            "94ffd92eb144a6aa9d82862ca7c1c0eb741d5a54963ce1a8129c0df02f05fef7",
            "f933b80b211f41708f7bacf727cd1755b375174b313929f2686cef497a12d770",
        );
        let entries = [
            image(OCI, amd64, 555, platform("linux", "amd64", None)),
            image(OCI, arm64, 555, platform("linux", "arm64", Some("v8"))),
            attestation(
                "37fa322a1ec22952ff47a3c852fbdf3fca2870dcb4942ce7d1f4a13f1ef4624a",
                amd64,
            ),
            attestation(
                "b7d20ca793d6de8f3572af52221e26fdc84c53cab3a33b625348825a4ca3b605",
                arm64,
            ),
        ];

        let docker = written(ListType::Docker, &BTreeMap::new(), &entries);
        let oci = written(ListType::Oci, &BTreeMap::new(), &entries);

        assert_eq!(docker.0, golden("buildx.json"));
        assert_eq!(oci.0, golden("buildx-oci.json"));
        assert_eq!(
            (docker.1.as_str(), oci.1.as_str()),
            (
                "sha256:49de4746cb935e89f21580e77619d5a791ddfa533b217790c5821f2e48985fff",
                "sha256:3b34a3ac78e60cbb5e7c073c8beab24db244dab867deed3b1db11a5cc42d8cde"
            )
        );
    }

    #[test]
    fn windows_entries_carry_os_version_and_features_and_no_cpu_features() {
        let mut ltsc2019 = platform("windows", "amd64", None);
        ltsc2019.os_version = Some("10.0.17763.5329".into());
        ltsc2019.os_features = vec!["win32k".into()];
        let mut ltsc2022 = platform("windows", "amd64", None);
        ltsc2022.os_version = Some("10.0.20348.2227".into());
        ltsc2022.features = vec!["sse4".into()];
        let entries = [
            image(
                DOCKER,
                "be863a34cd4690d4a6249fe526f32a3f6722d87c05174407c47baefac9f29dc7",
                583,
                ltsc2019,
            ),
            image(
                DOCKER,
                "f4b1bd5527bdd42c45ecede2f8f169492942c94f891e130c1f1172e0eecbd25e",
                583,
                ltsc2022,
            ),
            image(DOCKER, AMD64, 583, platform("linux", "amd64", None)),
        ];

        let (bytes, digest) = written(ListType::Auto, &BTreeMap::new(), &entries);

        assert_eq!(bytes, golden("windows.json"));
        assert_eq!(
            digest,
            "sha256:ad67d327d2582524f971c4280d22cfc4993631b7746cb97cb267846ef4e99a07"
        );
    }

    #[test]
    fn a_docker_list_with_annotations_is_refused_as_manifest_tool_refuses_it() {
        let entries = [image(DOCKER, AMD64, 583, platform("linux", "amd64", None))];
        let annotations = BTreeMap::from([("k".to_owned(), "v".to_owned())]);

        let err = choose_type(ListType::Docker, &annotations, &entries).unwrap_err();

        assert!(err.to_string().contains("--type oci"), "{err}");
    }
}
