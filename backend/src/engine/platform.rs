//! What platform a source image has: the one the spec gives — checked against the image's config,
//! unless the target's current list holds the image under that platform already (it was checked
//! when added) or the caller takes the spec's word — or, where the spec gives none or part, the
//! config's. A contradiction is refused before anything is written, naming the entry.

use super::current::Current;
use super::error::EngineError;
use crate::model::Reference;
use crate::model::{Digest, Platform};
use crate::registry::media::ConfigPlatform;
use crate::registry::{Descriptor, Manifest, ManifestBody, RegistryClient};
use crate::spec::{SourceEntry, SpecError};

/// How a source image's platform is decided.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Platforms<'a> {
    /// The target's current list.
    pub current: &'a Current,
    /// Take a complete spec platform without reading the image's config.
    pub trust_spec: bool,
    /// Write platforms as manifest-tool does: an arm64 platform without a variant stays so
    /// (else it is written `arm64/v8`, see [`Platform::written`]).
    pub as_manifest_tool: bool,
}

impl Platforms<'_> {
    /// The platform of the image `digest` (config `config`) that spec entry `index` names.
    pub(crate) async fn of_image(
        &self,
        client: &RegistryClient,
        (index, entry): (usize, &SourceEntry),
        digest: &Digest,
        config: &Descriptor,
    ) -> Result<Platform, EngineError> {
        let given = entry.platform.clone().unwrap_or_default();
        let complete = given.complete();
        if let Some(listed) = self.current.platform_of(digest) {
            let wanted = given.fill_from(listed);
            if wanted.same_as(listed) {
                return Ok(wanted);
            }
        }
        if self.trust_spec
            && let Some(platform) = complete
        {
            return Ok(self.written(platform));
        }
        let image = config_platform(client, &entry.image, config).await?;
        let platform = match complete {
            Some(spec) if spec.contradicts(&image) => {
                return Err(EngineError::Spec(SpecError::in_field(
                    format!("manifests[{index}].platform"),
                    format!(
                        "the spec says {spec} but {} is {image}; correct the spec, or take its \
                         word with --trust-platforms",
                        entry.image
                    ),
                )));
            }
            // As manifest-tool: what the spec leaves out (variant, os.version, os.features)
            // comes from the config.
            _ => given.fill_from(&image),
        };
        check_platform(&platform, &entry.image)?;
        Ok(self.written(platform))
    }

    /// The platform as the list is written.
    fn written(&self, platform: Platform) -> Platform {
        if self.as_manifest_tool {
            platform
        } else {
            platform.written()
        }
    }
}

/// The platform of a list's child that has none in its descriptor: from its config.
pub(crate) async fn child_platform(
    client: &RegistryClient,
    source: &Reference,
) -> Result<(Platform, Manifest), EngineError> {
    let manifest = client
        .get_manifest(source)
        .await
        .map_err(|e| EngineError::registry(source, e))?;
    let ManifestBody::Image(image) = &manifest.body else {
        return Err(EngineError::Invalid(format!(
            "{source} is a list nested in a list without a platform; manifold flattens one level"
        )));
    };
    let platform = config_platform(client, source, &image.config)
        .await?
        .normalized();
    check_platform(&platform, source)?;
    Ok((platform, manifest))
}

/// Reads `os`, `architecture`, `variant`, `os.version`, `os.features` from an image config.
pub(super) async fn config_platform(
    client: &RegistryClient,
    image: &Reference,
    config: &Descriptor,
) -> Result<Platform, EngineError> {
    let bytes = client
        .get_blob(image, &config.digest)
        .await
        .map_err(|e| EngineError::registry(image, e))?;
    let parsed: ConfigPlatform = serde_json::from_slice(&bytes).map_err(|e| {
        EngineError::Invalid(format!(
            "{image}: its config {} is not an image config ({e}); give the platform in the spec",
            config.digest
        ))
    })?;
    Ok(parsed.platform())
}

pub(crate) fn check_platform(platform: &Platform, image: &Reference) -> Result<(), EngineError> {
    if platform.os.is_empty() || platform.architecture.is_empty() {
        return Err(EngineError::Invalid(format!(
            "{image}: neither the spec nor the image config says its os and architecture; \
             give `platform: {{os: …, architecture: …}}` in the spec"
        )));
    }
    Ok(())
}
