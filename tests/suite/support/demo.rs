//! The documentation demo's spec: `demo-s390x:v0.2` and `demo-amd64:v0.2` (as
//! [`seed_demo`](super::cli::seed_demo) pushes them) into one list, as YAML or JSON. Every test
//! that submits or pushes the plain demo builds it here; specs that differ on purpose (one entry, a
//! missing source, annotations) stay in their tests.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::cli::write_spec;

/// The demo's two sources, in order.
const ARCHES: [&str; 2] = ["s390x", "amd64"];

/// How the YAML is written (the list is the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `  - image: …` then `platform:` as a block mapping.
    Block,
    /// `  - image: …` then `platform: {os: linux, architecture: …}`.
    Flow,
    /// `  -` on a line of its own, then block mappings: how manifest-tool's documentation
    /// writes the demo.
    ManifestTool,
}

/// The demo spec for the sources on one registry host; [`demo_spec`] makes one.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    host: String,
    target: String,
    style: Style,
}

/// The demo `host/demo:v0.2` from `host/demo-s390x:v0.2` and `host/demo-amd64:v0.2`; YAML in
/// block style unless told otherwise.
pub fn demo_spec(host: &str) -> DemoSpec {
    DemoSpec {
        host: host.to_owned(),
        target: "demo:v0.2".to_owned(),
        style: Style::Block,
    }
}

impl DemoSpec {
    /// Pushed to `host/target` instead of `host/demo:v0.2`.
    pub fn target(mut self, target: &str) -> Self {
        self.target = target.to_owned();
        self
    }

    /// Each platform as a flow mapping.
    pub fn flow(mut self) -> Self {
        self.style = Style::Flow;
        self
    }

    /// Written as manifest-tool's documentation writes it.
    pub fn manifest_tool(mut self) -> Self {
        self.style = Style::ManifestTool;
        self
    }

    /// The spec as YAML.
    pub fn yaml(&self) -> String {
        let host = &self.host;
        let mut yaml = format!("image: {host}/{}\nmanifests:\n", self.target);
        for arch in ARCHES {
            let image = format!("{host}/demo-{arch}:v0.2");
            let block_platform =
                format!("    platform:\n      architecture: {arch}\n      os: linux\n");
            yaml.push_str(&match self.style {
                Style::Block => format!("  - image: {image}\n{block_platform}"),
                Style::ManifestTool => format!("  -\n    image: {image}\n{block_platform}"),
                Style::Flow => format!(
                    "  - image: {image}\n    platform: {{os: linux, architecture: {arch}}}\n"
                ),
            });
        }
        yaml
    }

    /// Writes the YAML as `dir/name` (keep the dir alive while it is used); its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        write_spec(dir, name, &self.yaml())
    }

    /// The spec as JSON (the style does not apply).
    pub fn json(&self) -> Value {
        let host = &self.host;
        let manifests: Vec<Value> = ARCHES
            .iter()
            .map(|arch| {
                json!({
                    "image": format!("{host}/demo-{arch}:v0.2"),
                    "platform": {"architecture": arch, "os": "linux"}
                })
            })
            .collect();
        json!({"image": format!("{host}/{}", self.target), "manifests": manifests})
    }
}
