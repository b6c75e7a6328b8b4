//! The list use cases: submit (queue a push), dry run, get one, a page of them, retry, cancel,
//! follow and unfollow.
//!
//! A submission meets its rules here whichever adapter it came through: no text of it holds a NUL
//! character (`input.rs`); the spec's own options win over the request's defaults; every registry
//! it names and its callback host must be on the allow-lists; an idempotency key is at most 255
//! characters and names one request, told apart from another by one fingerprint of what the
//! request asks for.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::Digest as _;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{IdToken, ListResource, ServiceError, Services};
use crate::engine::{self, PushOptions, Skipped};
use crate::model::{
    AskedOptions, Digest, Entry, ErrorCode, Identity, ListFormat, ListOptions, ListStatus,
    Operation, Referrer, Repair, SpecFormat,
};
use crate::oidc;
use crate::spec::{Submission, Work};
use crate::store::{Inserted, ListFilter, NewList, Transition};

/// Largest request body accepted (a spec is at most 4 MiB of list, plus its text).
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// Longest idempotency key accepted.
const MAX_KEY_LEN: usize = 255;

/// A list submitted to be pushed (or dry-run).
#[derive(Debug, Clone)]
pub struct Submit {
    /// The spec and the options it carries.
    pub submission: Submission,
    /// The format the spec came in.
    pub format: SpecFormat,
    /// The spec as submitted.
    pub text: String,
    /// Options the request gives beside the spec (the API's query, the form); the spec's own keys
    /// win.
    pub asked: AskedOptions,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
}

impl Submit {
    /// The submission's options: the spec's own keys over the request's.
    fn options(&self) -> ListOptions {
        self.submission.options.over(&self.asked)
    }

    /// Several targets in one submission are one publish: the same list at each, the tags
    /// moved together. Each target's own current list would make another list, so a publish
    /// neither appends nor brings platforms to a staged release.
    fn check_several_targets(&self) -> Result<(), ServiceError> {
        let Some(key) = self.submission.several_targets else {
            return Ok(());
        };
        let options = self.options();
        let refused = [
            (
                "append",
                options.append,
                "merges into the list each target holds",
            ),
            (
                "expect",
                options.stage.is_some(),
                "composes one target's release",
            ),
        ];
        match refused.into_iter().find(|(_, on, _)| *on) {
            Some((field, _, why)) => Err(ServiceError::invalid(
                ErrorCode::InvalidSpec,
                field,
                format!(
                    "{field} {why}, and this submission names {} targets ({key}); submit one \
                     list per target, or publish the whole list to all of them",
                    self.submission.spec.targets().len()
                ),
            )),
            None => Ok(()),
        }
    }

    /// The submission on its way into the queue, as `work` (its spec's list).
    fn queued<'a>(&'a self, work: &'a Work, caller: Option<&'a IdToken>) -> Queued<'a> {
        let options = self.options();
        Queued {
            operation: match options.stage {
                Some(_) => Operation::Stage,
                None => work.operation(options.append),
            },
            work,
            options,
            text: self.text.clone(),
            format: self.format,
            idempotency_key: self.idempotency_key.as_deref(),
            caller,
        }
    }
}

/// What a dry run resolved: the exact list that would be pushed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRun {
    /// The target reference.
    pub target: String,
    /// The list's digest.
    pub digest: Digest,
    /// Docker manifest list or OCI index.
    pub media_type: String,
    /// The list's size in bytes.
    pub size: u64,
    /// The exact list document that would be pushed (its sha256 is `digest`).
    pub document: String,
    /// The entries.
    pub entries: Vec<Entry>,
    /// Sources skipped as missing.
    #[schema(value_type = Vec<Object>)]
    pub skipped: Vec<Skipped>,
    /// With `referrers`: what refers to the children where they come from, which the push would
    /// bring into the target.
    pub referrers: Vec<Referrer>,
    /// Registry requests made.
    pub requests: u64,
}

/// Which lists a page holds.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// Only lists with this status.
    pub status: Option<ListStatus>,
    /// Only lists pushed to this target (`registry/repo` or `registry/repo:tag`).
    pub target: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of lists, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListPage {
    /// The lists.
    pub items: Vec<ListResource>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// A submission on its way into the queue: its work, its options, and how it was asked for.
pub(super) struct Queued<'a> {
    pub work: &'a Work,
    pub operation: Operation,
    pub options: ListOptions,
    pub text: String,
    pub format: SpecFormat,
    pub idempotency_key: Option<&'a str>,
    /// The CI job's verified ID token, when one submitted it (its rules are checked).
    pub caller: Option<&'a IdToken>,
}

impl Queued<'_> {
    /// What makes two requests the same, for an idempotency key: what they ask for.
    /// (A list's is written as it was before removals and copies were queued, so that a key
    /// given before then still finds its list.)
    fn fingerprint(&self) -> String {
        let asked = match self.work {
            Work::List(spec) => {
                let o = &self.options;
                let mut asked = serde_json::json!({
                    "spec": spec,
                    "type": o.list_type,
                    "ignore_missing": o.ignore_missing,
                    "append": self.operation == Operation::Append,
                    "callback_url": o.callback_url,
                });
                for (key, on) in [
                    ("trust_platforms", o.trust_platforms),
                    ("follow", o.follow),
                    ("referrers", o.referrers),
                    ("inherit_annotations", o.inherit_annotations),
                ] {
                    if on {
                        asked[key] = true.into();
                    }
                }
                if o.repair.is_on() {
                    asked["repair"] = serde_json::to_value(o.repair).unwrap_or_default();
                }
                if o.format != ListFormat::default() {
                    asked["format"] = o.format.as_str().into();
                }
                if let Some(stage) = &o.stage {
                    asked["stage"] = serde_json::json!(stage);
                }
                asked
            }
            other => {
                let mut asked = serde_json::json!({
                    "operation": self.operation,
                    "work": other.to_stored(),
                    "callback_url": self.options.callback_url,
                });
                if self.operation == Operation::Copy && !self.options.referrers {
                    asked["referrers"] = false.into();
                }
                asked
            }
        };
        hex::encode(sha2::Sha256::digest(asked.to_string().as_bytes()))
    }
}

impl Services {
    /// Queues a list to be pushed: checked, written with its push job in one transaction.
    pub async fn submit(&self, submit: &Submit) -> Result<ListResource, ServiceError> {
        self.submit_as(submit, None).await
    }

    /// Queues a list a caller submitted: with a CI job's ID token, the token's claims must be let
    /// write its targets by a rule, and its identity is recorded with the list.
    pub async fn submit_as(
        &self,
        submit: &Submit,
        caller: Option<&IdToken>,
    ) -> Result<ListResource, ServiceError> {
        submit.refuse_nul()?;
        submit.check_several_targets()?;
        let work = Work::List(submit.submission.spec.clone());
        self.queue(submit.queued(&work, caller)).await
    }

    /// Checks a submission against the allow-lists and writes it with its push job in one
    /// transaction (or answers the list an idempotency key already names).
    pub(super) async fn queue(&self, q: Queued<'_>) -> Result<ListResource, ServiceError> {
        self.check_allowed(q.work, q.options.callback_url.as_deref())?;
        check_staging(&q.options)?;
        let identity = self.check_rules(q.work, q.caller)?;
        let key = checked_key(q.idempotency_key)?;
        let targets = q.work.targets();
        let more = targets[1..]
            .iter()
            .map(|t| (t.to_string(), q.work.at(t).to_stored()))
            .collect();
        let new = NewList {
            target: q.work.target().to_string(),
            tags: q.work.tags().to_vec(),
            spec: q.work.at(q.work.target()).to_stored(),
            more,
            request_hash: q.fingerprint(),
            spec_text: q.text,
            spec_format: q.format,
            operation: q.operation,
            options: q.options,
            idempotency_key: key,
            identity,
        };
        let max = self.settings.job_max_attempts();
        match self.store.insert_list(&new, max).await? {
            Inserted::New(list) | Inserted::Existing(list) => Ok(list.into()),
            Inserted::KeyReused => Err(ServiceError::KeyReused),
            Inserted::Conflict(message) => Err(ServiceError::ReleaseMismatch(message)),
        }
    }

    /// Resolves the sources and builds the exact list, writing nothing.
    pub async fn dry_run(&self, submit: &Submit) -> Result<DryRun, ServiceError> {
        self.dry_run_as(submit, None).await
    }

    /// A dry run a caller asked for: with a CI job's ID token, under the rules a submission
    /// meets (a dry run reads registries with the service's credentials).
    pub async fn dry_run_as(
        &self,
        submit: &Submit,
        caller: Option<&IdToken>,
    ) -> Result<DryRun, ServiceError> {
        submit.refuse_nul()?;
        submit.check_several_targets()?;
        let options = submit.options();
        let work = Work::List(submit.submission.spec.clone());
        self.check_allowed(&work, options.callback_url.as_deref())?;
        self.check_rules(&work, caller)?;
        let client = self.registry();
        let push = PushOptions::new(options, self.settings.concurrency());
        let report = engine::plan(&client, &submit.submission.spec, &push)
            .await?
            .dry_run(&client, &push)
            .await?;
        Ok(DryRun {
            target: report.target,
            digest: report.digest,
            media_type: report.media_type,
            size: report.size,
            document: String::from_utf8_lossy(&report.list.bytes).into_owned(),
            entries: report.entries,
            skipped: report.skipped,
            referrers: report.referrers,
            requests: report.requests,
        })
    }

    /// One list, by the id in a path (an id that is not a UUID names no list).
    pub async fn list(&self, id: &str) -> Result<ListResource, ServiceError> {
        let id = parse_id(id)?;
        let list = self.store.get_list(id).await?;
        list.map(ListResource::from)
            .ok_or(ServiceError::NotFound("the list"))
    }

    /// A page of lists, newest first.
    pub async fn lists(&self, query: &PageQuery) -> Result<ListPage, ServiceError> {
        let filter = filter_of(query)?;
        let page = self.store.list_lists(&filter).await?;
        Ok(ListPage {
            items: page.items.into_iter().map(ListResource::from).collect(),
            next_cursor: page.next.map(|(t, id)| encode_cursor(t, id)),
        })
    }

    /// Queues a failed or canceled list again.
    pub async fn retry(&self, id: &str) -> Result<ListResource, ServiceError> {
        let id = parse_id(id)?;
        let done = self
            .store
            .retry(id, self.settings.job_max_attempts())
            .await?;
        transition(
            done,
            "only a failed, canceled or superseded list can be retried",
        )
    }

    /// Cancels a queued list.
    pub async fn cancel(&self, id: &str) -> Result<ListResource, ServiceError> {
        let id = parse_id(id)?;
        let done = self.store.cancel(id).await?;
        transition(done, "only a queued list can be canceled")
    }

    /// Follows a list pushed from a spec: once it has landed, each time one of its sources moves
    /// a new list is queued from the same spec.
    pub async fn follow(&self, id: &str) -> Result<ListResource, ServiceError> {
        let id = parse_id(id)?;
        let list = self
            .store
            .get_list(id)
            .await?
            .ok_or(ServiceError::NotFound("the list"))?;
        if !matches!(list.operation, Operation::Push | Operation::Append) {
            return Err(ServiceError::Conflict {
                status: list.status,
                rule: "only a list pushed from a spec (a push or an append) can be followed",
            });
        }
        self.set_follow(id, true).await
    }

    /// Stops following a list, and the follow-ups that took the following over from it.
    pub async fn unfollow(&self, id: &str) -> Result<ListResource, ServiceError> {
        self.set_follow(parse_id(id)?, false).await
    }

    /// Sets what the watch does when it finds a landed list no longer whole: nothing, its
    /// children made present again, or the tag put back too (`repair`). Only for the list its
    /// target holds now; it is checked at once when the watch keeps it.
    pub async fn set_repair(&self, id: &str, repair: Repair) -> Result<ListResource, ServiceError> {
        let done = self.store.set_repair(parse_id(id)?, repair).await?;
        let list = transition(
            done,
            "only the list its target holds now can be kept whole: one a later list replaced \
             is history (roll back to it first), and one that did not land has nothing to keep",
        )?;
        self.watch_wake.notify_one();
        Ok(list)
    }

    async fn set_follow(&self, id: Uuid, on: bool) -> Result<ListResource, ServiceError> {
        let list = self.store.set_follow(id, on).await?;
        list.map(ListResource::from)
            .ok_or(ServiceError::NotFound("the list"))
    }

    /// With an ID token: a rule must let its claims write every target of the work (the target
    /// and its extra tags) from every source it reads (where the rule names sources); the
    /// identity recorded names the rule.
    fn check_rules(
        &self,
        work: &Work,
        caller: Option<&IdToken>,
    ) -> Result<Option<Identity>, ServiceError> {
        let Some(token) = caller else {
            return Ok(None);
        };
        let targets: Vec<String> = work
            .targets()
            .into_iter()
            .flat_map(|target| {
                std::iter::once(target.to_string())
                    .chain(work.tags().iter().map(|t| target.with_tag(t).to_string()))
            })
            .collect();
        let read = work.sources();
        let sources: Vec<String> = read.iter().map(|(_, r)| r.to_string()).collect();
        match oidc::decide(self.settings.oidc_rules(), token, &targets, &sources) {
            Ok(rule) => Ok(Some(token.identity(Some(&rule.name)))),
            Err(refusal) => Err(ServiceError::NotAllowed {
                code: ErrorCode::Forbidden,
                message: refusal.message,
                field: match refusal.source {
                    Some(i) => read[i].0.clone(),
                    None => target_field(work).to_owned(),
                },
            }),
        }
    }

    /// Every registry must be on the allow-list, and a callback host on its own.
    fn check_allowed(&self, work: &Work, callback_url: Option<&str>) -> Result<(), ServiceError> {
        let allow = self.settings.allow();
        for (field, reference) in work.references() {
            if !allow.allows(reference.registry()) {
                return Err(ServiceError::NotAllowed {
                    code: ErrorCode::RegistryNotAllowed,
                    message: format!(
                        "registry {} is not one this service may talk to (MANIFOLD_REGISTRIES)",
                        reference.registry()
                    ),
                    field,
                });
            }
        }
        if let Some(url) = callback_url
            && !self.settings.callback_allowed(url)
        {
            return Err(ServiceError::NotAllowed {
                code: ErrorCode::CallbackNotAllowed,
                message: format!("callbacks to {url} are not allowed (MANIFOLD_CALLBACK_HOSTS)"),
                field: "callback_url".to_owned(),
            });
        }
        Ok(())
    }
}

/// A staged submission brings platforms to a release, which composes them: it cannot also
/// append to the target, or follow its sources.
fn check_staging(options: &ListOptions) -> Result<(), ServiceError> {
    if options.stage.is_none() {
        return Ok(());
    }
    for (field, on) in [("append", options.append), ("follow", options.follow)] {
        if on {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidSpec,
                field,
                format!(
                    "a submission to a staged release (expect) cannot also {field}: the release \
                     composes its platforms, and moves the tag once"
                ),
            ));
        }
    }
    Ok(())
}

fn checked_key(key: Option<&str>) -> Result<Option<String>, ServiceError> {
    let key = key.map(str::trim).filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > MAX_KEY_LEN) {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidHeader,
            "Idempotency-Key",
            format!("Idempotency-Key is longer than {MAX_KEY_LEN} characters"),
        ));
    }
    Ok(key.map(str::to_owned))
}

fn transition(done: Transition, rule: &'static str) -> Result<ListResource, ServiceError> {
    match done {
        Transition::Done(list) => Ok((*list).into()),
        Transition::NotFound => Err(ServiceError::NotFound("the list")),
        Transition::Conflict(status) => Err(ServiceError::Conflict { status, rule }),
    }
}

/// The store's filter of a page asked for (its cursor read back).
pub(super) fn filter_of(query: &PageQuery) -> Result<ListFilter, ServiceError> {
    query.refuse_nul()?;
    let before = match query.cursor.as_deref() {
        Some(c) if !c.is_empty() => Some(decode_cursor(c)?),
        _ => None,
    };
    Ok(ListFilter {
        status: query.status,
        target: query.target.clone().filter(|t| !t.trim().is_empty()),
        before,
        limit: query.limit.unwrap_or(50),
    })
}

pub(super) fn parse_id(id: &str) -> Result<Uuid, ServiceError> {
    id.parse().map_err(|_| ServiceError::NotFound("the list"))
}

pub(super) fn encode_cursor(t: DateTime<Utc>, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{id}", t.to_rfc3339()))
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ServiceError> {
    let bad = || {
        ServiceError::invalid(
            ErrorCode::InvalidCursor,
            "cursor",
            "the cursor is not one this service gave",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (t, id) = text.split_once('|').ok_or_else(bad)?;
    let t = DateTime::parse_from_rfc3339(t)
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    Ok((t, id.parse().map_err(|_| bad())?))
}

/// The field that names a work's (first) target.
fn target_field(work: &Work) -> &'static str {
    match work {
        Work::List(_) => "image",
        Work::Remove(_) | Work::Copy(_) => "target",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ListType;

    #[test]
    fn a_cursor_reads_back_as_the_position_it_was_made_from() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = Uuid::new_v4();
        assert_eq!(decode_cursor(&encode_cursor(t, id)).unwrap(), (t, id));
        let err = decode_cursor("bm90IGEgY3Vyc29y").unwrap_err();
        assert_eq!(err.field(), Some("cursor"));
        assert_eq!(err.code(), ErrorCode::InvalidCursor);
    }

    fn submit(yaml: &str, key: Option<&str>) -> Submit {
        Submit {
            submission: crate::spec::parse::submission_from_yaml(yaml).unwrap(),
            format: SpecFormat::Yaml,
            text: yaml.to_owned(),
            asked: AskedOptions::default(),
            idempotency_key: key.map(str::to_owned),
        }
    }

    #[test]
    fn the_fingerprint_is_what_a_request_asks_for_not_how_it_is_written() {
        let a = submit(
            "image: r.io/demo:v1\nmanifests:\n  - image: r.io/a:v1\n",
            None,
        );
        let spaced = submit(
            "image:   r.io/demo:v1\n\nmanifests:\n- image: r.io/a:v1\n",
            None,
        );
        let mut oci = a.clone();
        oci.asked.list_type = Some(ListType::Oci);
        let fp = |s: &Submit| {
            s.queued(&Work::List(s.submission.spec.clone()), None)
                .fingerprint()
        };
        assert_eq!(fp(&a), fp(&spaced));
        assert_ne!(fp(&a), fp(&oci));
    }

    #[test]
    fn the_spec_own_options_win_over_the_request_defaults() {
        let mut s = submit(
            "type: docker\nimage: r.io/demo:v1\nmanifests:\n  - image: r.io/a:v1\n",
            None,
        );
        s.asked.list_type = Some(ListType::Oci);
        s.asked.ignore_missing = Some(true);
        let options = s.options();
        assert_eq!(options.list_type, ListType::Docker);
        assert!(options.ignore_missing);
    }

    #[test]
    fn several_targets_are_published_but_neither_appended_nor_staged() {
        let manifests = "manifests: [{image: r.io/a:v1}]\n";
        let one = submit(
            &format!("image: [r.io/demo:v1]\nappend: true\n{manifests}"),
            None,
        );
        let listed = submit(
            &format!("image: [r.io/demo:v1, s.io/demo:v1]\n{manifests}"),
            None,
        );
        let appended = submit(
            &format!("targets: [r.io/demo:v1, s.io/demo:v1]\nappend: true\n{manifests}"),
            None,
        );
        let staged = submit(
            &format!("image: [r.io/demo:v1, s.io/demo:v1]\nexpect: [linux/amd64]\n{manifests}"),
            None,
        );

        assert!(one.check_several_targets().is_ok());
        assert!(listed.check_several_targets().is_ok());
        for (s, field, key) in [(appended, "append", "targets"), (staged, "expect", "image")] {
            let err = s.check_several_targets().unwrap_err();
            assert_eq!(err.field(), Some(field));
            assert_eq!(err.code(), ErrorCode::InvalidSpec);
            let message = err.to_string();
            assert!(
                message.contains(&format!("names 2 targets ({key})")),
                "{message}"
            );
        }
    }

    #[test]
    fn an_idempotency_key_is_trimmed_and_limited() {
        assert_eq!(checked_key(Some("  k  ")).unwrap().as_deref(), Some("k"));
        assert_eq!(checked_key(Some("  ")).unwrap(), None);
        let err = checked_key(Some(&"k".repeat(256))).unwrap_err();
        assert_eq!(err.field(), Some("Idempotency-Key"));
    }
}
