//! Who submitted a list when a CI job's OIDC ID token did: the issuer, the token's subject and the
//! claims people look for (repository, ref, run), and the rule that let it. Recorded with the list
//! and shown with it; never the token itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The identity of a CI job that submitted a list with an OIDC ID token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    /// The token's issuer (`iss`), e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// The token's subject (`sub`), e.g. `repo:example-org/demo:ref:refs/heads/main`.
    pub subject: String,
    /// The repository or project (`repository` on GitHub, `project_path` on GitLab).
    pub repository: Option<String>,
    /// The git ref the job ran for (`ref`).
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The run or pipeline (`run_id` on GitHub, `pipeline_id` on GitLab).
    pub run_id: Option<String>,
    /// The rule of the service's configuration that let the token submit this list.
    pub rule: Option<String>,
}
