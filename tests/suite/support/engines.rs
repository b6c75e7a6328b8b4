//! What the engine tests stand on: the shared engines (`manifold_testkit::engines`), or a logged
//! reason to skip; busybox sources seeded into a registry, one per platform of the table
//! (`manifold_testkit::arches`), and the spec of a list of them; and `manifold verify --json`,
//! read as which entry each platform resolves to.

use manifold_testkit::engines::Docker;
use manifold_testkit::{
    ARCHES, Arch, BuiltImage, BusyboxFixture, Engine, EngineKind, Engines, Format, Pusher,
    TestRegistry,
};
use serde::Deserialize;

use super::cli::manifold;

/// The engine `kind`, started if it was not; `None`, saying why on stderr, where it does not run
/// here.
pub async fn engine_or_skip(kind: EngineKind, test: &str) -> Option<Engine<'static>> {
    let engines = Engines::shared().await;
    match engines.engine(kind) {
        Ok(engine) => Some(engine),
        Err(why) => {
            eprintln!("SKIPPED {test}: {kind} does not run here: {why}");
            None
        }
    }
}

/// dockerd, started if it was not; `None`, saying why on stderr, where it does not run here.
pub async fn docker_or_skip(test: &str) -> Option<&'static Docker> {
    match &Engines::shared().await.docker {
        Ok(docker) => Some(docker),
        Err(why) => {
            eprintln!("SKIPPED {test}: docker does not run here: {why}");
            None
        }
    }
}

/// Whether containers of `arch` run here; if not, says on stderr what `test` leaves out.
pub async fn runs_or_say(arch: &Arch, test: &str) -> bool {
    match Engines::shared().await.qemu.runs(arch) {
        Ok(()) => true,
        Err(why) => {
            eprintln!(
                "{test}: not running the {} child (qemu): {why}",
                arch.platform()
            );
            false
        }
    }
}

/// One busybox image per platform of the table, each pushed as `fleet-<debian-arch>:v1`.
pub struct Fleet {
    /// The platforms' entries, with the image each is.
    pub images: Vec<(&'static Arch, BuiltImage)>,
}

impl Fleet {
    /// Builds the images in `format` and pushes them; an error (the reason to skip) when a
    /// busybox binary is missing.
    pub async fn seed(registry: &TestRegistry, format: Format) -> anyhow::Result<Fleet> {
        let mut images = Vec::new();
        for arch in &ARCHES {
            let image = BusyboxFixture::new(arch).format(format).build()?;
            Pusher::new(registry)
                .push_image(&format!("fleet-{}", arch.debian), "v1", &image)
                .await?;
            images.push((arch, image));
        }
        Ok(Fleet { images })
    }

    /// A spec of a list `host/target` with every image, its platform given.
    pub fn spec(&self, host: &str, target: &str) -> String {
        let mut yaml = format!("image: {host}/{target}\nmanifests:\n");
        for (arch, _) in &self.images {
            yaml.push_str(&format!(
                "  - image: {host}/fleet-{}:v1\n    platform:\n      os: linux\n      \
                 architecture: {}\n",
                arch.debian, arch.architecture
            ));
            if let Some(variant) = arch.variant {
                yaml.push_str(&format!("      variant: {variant}\n"));
            }
        }
        yaml
    }

    /// The image whose manifest has this digest.
    pub fn by_manifest(&self, digest: &str) -> Option<&BuiltImage> {
        self.images
            .iter()
            .map(|(_, image)| image)
            .find(|image| image.manifest_digest == digest)
    }
}

/// One platform of `manifold verify --json`.
#[derive(Debug, Deserialize)]
pub struct Resolution {
    /// The platform as the list writes it.
    pub platform: String,
    /// Its entry's digest.
    pub digest: String,
    /// What a consumer on that platform pulls, if anything.
    pub resolves_to: Option<String>,
}

/// `manifold verify --json REFERENCE`'s `platforms`; the run must succeed.
pub async fn verify(reference: &str) -> Vec<Resolution> {
    #[derive(Deserialize)]
    struct Verification {
        platforms: Vec<Resolution>,
    }
    let run = manifold(&["verify", "--json", reference]).await.ok();
    let verification: Verification = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json printed no verification ({e}):\n{}",
            run.stdout
        )
    });
    verification.platforms
}
