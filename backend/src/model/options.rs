//! A submission's options — what a list asks of its push besides the spec — as one value from the
//! edges (spec keys, the API's query and bodies, the pages' forms, the CLI's flags) through the
//! service and the store to the engine, and the one rule that merges the places they come from:
//! **a spec's own keys win; the request (the query, the form, the flags) fills what they leave
//! unset; the defaults fill the rest.**
//!
//! A new option is a field here (in both structs), its parsing at each edge, and its use.

use serde::{Deserialize, Serialize};

use super::{ListFormat, ListType, Repair};

/// The options of one submission, merged and complete: what the store keeps (as one JSON
/// document), the worker hands to the engine, and the list resource shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListOptions {
    /// `type`: Docker manifest list, OCI index, or chosen from the children.
    #[serde(rename = "type")]
    pub list_type: ListType,
    /// `format`: how the list document is written (manifold's compact JSON, or manifest-tool's
    /// bytes and digest).
    pub format: ListFormat,
    /// `ignore_missing`: skip sources that do not exist instead of failing.
    pub ignore_missing: bool,
    /// `append`: merge the entries into the list the target holds instead of replacing it.
    pub append: bool,
    /// `trust_platforms`: take the platforms a spec gives without checking them against the
    /// images' configs.
    pub trust_platforms: bool,
    /// `follow`: re-push the list from the same spec whenever one of its sources moves.
    pub follow: bool,
    /// `repair`: keep the list whole once it has landed (children made present again, and with
    /// `"tag"` the tag put back whoever moved it).
    pub repair: Repair,
    /// `referrers`: bring every child's signatures, attestations and SBOMs into the target too.
    pub referrers: bool,
    /// `inherit_annotations`: give the index the `org.opencontainers.image.*` annotations every
    /// image child agrees on.
    pub inherit_annotations: bool,
    /// `callback_url`: where the service POSTs the list when it finishes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// `expect` and the rest: the staged release this submission brings platforms to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<super::Staging>,
}

/// A submission's options, each of which may be left unset: given as a spec's own keys or in the
/// request beside it (the API's query, the form, the command line's flags); a spec's own keys win.
// The API's query parameters and the body's schema are documented from this struct.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema, utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
pub struct AskedOptions {
    /// The list type: `docker`, `oci` or `auto` (the default: OCI when a child is OCI or
    /// annotations are given).
    #[serde(rename = "type")]
    pub list_type: Option<ListType>,
    /// How the list document is written: `manifold` (the default: compact JSON) or
    /// `manifest-tool` (the bytes manifest-tool v2 pushes for the same spec, so its digest; a
    /// Docker list unless `type` is `oci` or annotations are given).
    pub format: Option<ListFormat>,
    /// Skip sources that do not exist.
    pub ignore_missing: Option<bool>,
    /// Merge the entries into the list the target holds (an entry of a platform it has replaces
    /// that one; the rest stay) instead of replacing the list.
    pub append: Option<bool>,
    /// Take the spec's platforms as given. By default a platform the spec gives must be the
    /// image's own (its config's `os`, `architecture`, `variant`), or the list is refused.
    pub trust_platforms: Option<bool>,
    /// Follow the sources: once the list has landed, each time the watch finds that one of its
    /// sources (named by tag) moved, a new list is queued for the target from the same spec
    /// (`follows` names the list it re-pushes). Stopped with `POST /lists/{id}/unfollow`.
    pub follow: Option<bool>,
    /// Keep the list whole once it has landed: `true` — when the watch (or a registry event)
    /// finds a child gone from the target repository, a list of operation `repair` makes it
    /// present again from the recorded digests and re-PUTs the same document; a tag moved to
    /// something manifold did not push is only reported. `"tag"` — that tag is put back too. At
    /// most 3 repairs of a target an hour.
    #[param(value_type = Option<String>, example = "true")]
    pub repair: Option<Repair>,
    /// Bring every child's signatures, attestations and SBOMs into the target repository too:
    /// cosign's `sha256-<hex>.sig`/`.att`/`.sbom` tags (same digests) and OCI referrers,
    /// registered by the target's referrers API or its referrers tag schema.
    pub referrers: Option<bool>,
    /// Give the index the `org.opencontainers.image.*` annotations (description, source,
    /// licenses, version, revision, url, title, vendor) that every image child agrees on — from
    /// each child's manifest annotations, else its config's labels; the spec's own annotations
    /// win. The list is then an OCI index unless `type` says otherwise.
    pub inherit_annotations: Option<bool>,
    /// Where to POST the list when it finishes (a host on `MANIFOLD_CALLBACK_HOSTS`).
    #[schema(min_length = 1)]
    pub callback_url: Option<String>,
    /// The staged release the submission brings its platforms to (the spec's `expect`,
    /// `release`, `deadline_secs`, `on_deadline`; the command line's `--expect` and the rest).
    #[serde(skip)]
    #[param(ignore)]
    #[schema(ignore)]
    pub stage: Option<super::Staging>,
}

impl AskedOptions {
    /// The options `self` (a spec's own keys) asks for, with `request` (the query, the form, the
    /// flags) filling what it leaves unset, and the defaults the rest.
    pub fn over(&self, request: &AskedOptions) -> ListOptions {
        let flag = |own: Option<bool>, asked: Option<bool>| own.or(asked).unwrap_or(false);
        ListOptions {
            list_type: self.list_type.or(request.list_type).unwrap_or_default(),
            format: self.format.or(request.format).unwrap_or_default(),
            ignore_missing: flag(self.ignore_missing, request.ignore_missing),
            append: flag(self.append, request.append),
            trust_platforms: flag(self.trust_platforms, request.trust_platforms),
            follow: flag(self.follow, request.follow),
            repair: self.repair.or(request.repair).unwrap_or_default(),
            referrers: flag(self.referrers, request.referrers),
            inherit_annotations: flag(self.inherit_annotations, request.inherit_annotations),
            callback_url: self
                .callback_url
                .clone()
                .or_else(|| request.callback_url.clone()),
            stage: self.stage.clone().or_else(|| request.stage.clone()),
        }
    }

    /// These options alone, merged with nothing but the defaults.
    pub fn resolved(&self) -> ListOptions {
        self.over(&Self::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_own_keys_win_the_request_fills_the_rest_and_the_defaults_what_is_left() {
        let spec = AskedOptions {
            list_type: Some(ListType::Docker),
            trust_platforms: Some(false),
            ..AskedOptions::default()
        };
        let request = AskedOptions {
            list_type: Some(ListType::Oci),
            format: Some(ListFormat::ManifestTool),
            trust_platforms: Some(true),
            ignore_missing: Some(true),
            callback_url: Some("http://127.0.0.1:9/hook".into()),
            ..AskedOptions::default()
        };

        let merged = spec.over(&request);

        assert_eq!(merged.list_type, ListType::Docker);
        assert_eq!(
            merged.format,
            ListFormat::ManifestTool,
            "the request fills it"
        );
        assert!(!merged.trust_platforms, "the spec's explicit false wins");
        assert!(merged.ignore_missing);
        assert_eq!(
            merged.callback_url.as_deref(),
            Some("http://127.0.0.1:9/hook")
        );
        assert!(!merged.append && !merged.follow && !merged.referrers);
        assert_eq!(AskedOptions::default().resolved(), ListOptions::default());
    }

    #[test]
    fn repair_is_asked_in_a_query_as_true_or_tag_and_in_a_body_as_a_boolean_or_tag() {
        let query = |q: &str| serde_urlencoded::from_str::<AskedOptions>(q);
        let body = |b: &str| serde_json::from_str::<AskedOptions>(b);

        assert_eq!(query("repair=true").unwrap().repair, Some(Repair::Children));
        assert_eq!(query("repair=tag").unwrap().repair, Some(Repair::Tag));
        assert!(query("repair=maybe").is_err());
        assert_eq!(
            body(r#"{"repair": false}"#).unwrap().repair,
            Some(Repair::Off)
        );
        assert_eq!(
            body(r#"{"repair": "tag"}"#).unwrap().repair,
            Some(Repair::Tag)
        );
        let merged = body(r#"{"repair": true}"#)
            .unwrap()
            .over(&query("repair=tag").unwrap());
        assert_eq!(merged.repair, Repair::Children, "the spec's own key wins");
        assert_eq!(ListOptions::default().repair, Repair::Off);
    }

    #[test]
    fn stored_options_read_back_and_a_document_missing_keys_takes_the_defaults() {
        let options = ListOptions {
            list_type: ListType::Oci,
            referrers: true,
            callback_url: Some("http://127.0.0.1:9/hook".into()),
            ..ListOptions::default()
        };
        let stored = serde_json::to_value(&options).unwrap();

        assert_eq!(stored["type"], "oci");
        let back: ListOptions = serde_json::from_value(stored).unwrap();
        assert_eq!(back, options);
        let sparse: ListOptions = serde_json::from_str(r#"{"append": true}"#).unwrap();
        assert!(sparse.append);
        assert_eq!(sparse.list_type, ListType::Auto);
        assert_eq!(sparse.format, ListFormat::Manifold);
    }
}
