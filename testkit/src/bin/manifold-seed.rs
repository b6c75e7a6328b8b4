//! `manifold-seed REGISTRY [PREFIX]`: pushes the documentation demo's source images —
//! `PREFIX-s390x:v0.2`, `PREFIX-amd64:v0.2` and `PREFIX-arm64:v0.2` (default prefix `demo`) —
//! built deterministically in code, into a registry reached over plain HTTP. For trying manifold
//! out and for the README's demo; nothing is downloaded.

use manifold_testkit::{ImageFixture, Pusher};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(registry) = args.next() else {
        anyhow::bail!("usage: manifold-seed REGISTRY [PREFIX]   e.g. manifold-seed 127.0.0.1:5000");
    };
    let prefix = args.next().unwrap_or_else(|| "demo".to_owned());
    let pusher = Pusher::for_url(&format!("http://{registry}"), None)?;
    for (arch, variant) in [("s390x", None), ("amd64", None), ("arm64", Some("v8"))] {
        let image = ImageFixture::new("linux", arch, variant).build();
        let repo = format!("{prefix}-{arch}");
        pusher.push_image(&repo, "v0.2", &image).await?;
        println!("{registry}/{repo}:v0.2 {}", image.manifest_digest);
    }
    Ok(())
}
