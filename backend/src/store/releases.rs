//! Staged releases, once for both backends: a release opened (or found) when a submission names
//! one, a stage list recorded `staged` and — when the release then has every platform it expects
//! — its release list queued in the same transaction; the stage lists settled with the release
//! list's outcome; a release ended at its deadline. A release's row is locked (PostgreSQL) before
//! its arrivals are read, so two transactions never both find it complete.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::DbError;
use super::queue::{FINISHED, queue_event};
use super::rows::{self, ClaimedJob, NewList};
use super::sql::{Backend, Row, Session, Value, args};
use super::statements::Statements;
use crate::model::release::{self, Composed, StagedList};
use crate::model::{
    Entry, ErrorCode, Identity, ListOptions, ListStatus, OnDeadline, Operation, Platform,
    SourcePin, Staging,
};

/// Where a release is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseState {
    /// Platforms are arriving.
    Open,
    /// Complete (or at its deadline, pushed as it is): its list is queued.
    Releasing,
    /// Its list landed; the tag holds it.
    Released,
    /// Its deadline passed without every platform, or its list failed.
    Failed,
}

impl ReleaseState {
    fn parse(text: &str) -> Result<Self, DbError> {
        Ok(match text {
            "open" => Self::Open,
            "releasing" => Self::Releasing,
            "released" => Self::Released,
            "failed" => Self::Failed,
            other => {
                return Err(DbError::Corrupt {
                    what: "release",
                    message: format!("unknown state {other:?}"),
                });
            }
        })
    }
}

/// One stage list of a release.
#[derive(Debug, Clone)]
pub struct StageRecord {
    /// The list.
    pub id: Uuid,
    /// Its status.
    pub status: ListStatus,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// The entries it staged (none before it ran, or when its staging failed).
    pub entries: Vec<Entry>,
    /// The CI job that submitted it, when an OIDC ID token did.
    pub identity: Option<Identity>,
}

/// A staged release and its stage lists.
#[derive(Debug, Clone)]
pub struct ReleaseRecord {
    /// Its id.
    pub id: Uuid,
    /// Its key (the release's name, or its target).
    pub key: String,
    /// The target reference.
    pub target: String,
    /// The platforms it expects.
    pub expect: Vec<Platform>,
    /// What its deadline does.
    pub on_deadline: OnDeadline,
    /// Where it is.
    pub state: ReleaseState,
    /// When it ends if incomplete.
    pub deadline_at: DateTime<Utc>,
    /// Its release list, once queued.
    pub list_id: Option<Uuid>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// When its first submission came.
    pub created_at: DateTime<Utc>,
    /// When it was released or failed.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its stage lists, in submission order.
    pub stages: Vec<StageRecord>,
}

impl ReleaseRecord {
    /// What the platforms staged so far make (stage lists that staged entries, in order).
    pub fn composed(&self) -> Composed<Uuid> {
        let staged: Vec<StagedList<Uuid>> = self
            .stages
            .iter()
            .filter(|s| !s.entries.is_empty())
            .map(|s| StagedList {
                list: s.id,
                entries: s.entries.clone(),
            })
            .collect();
        release::compose(&self.expect, &staged)
    }
}

/// Where a submission that names a release goes.
pub(super) enum Opened {
    /// Into this open release, as a stage.
    Stage(Uuid),
    /// The release already moved its tag: an ordinary append.
    Append,
    /// The open release expects other platforms.
    Conflict(String),
}

/// Finds the open release of `new`'s target and key, or opens one (none yet, or the last one
/// failed); a release that is releasing or released takes the submission as an append.
pub(super) async fn open<S: Session>(
    tx: &mut S,
    st: &Statements,
    new: &NewList,
    staging: &Staging,
) -> Result<Opened, DbError> {
    let key = staging.key(&new.target);
    if let Some(lock) = &st.lists.key_lock {
        tx.execute(
            lock,
            args![format!("release\u{1f}{}\u{1f}{key}", new.target).as_str()],
        )
        .await?;
    }
    let expected = serde_json::json!(staging.expected());
    if let Some(found) = tx
        .fetch_optional(&st.releases.find, args![new.target.as_str(), key.as_str()])
        .await?
    {
        let state = ReleaseState::parse(&found.text("state")?.unwrap_or_default())?;
        match state {
            ReleaseState::Releasing | ReleaseState::Released => return Ok(Opened::Append),
            ReleaseState::Open => {
                let theirs = expected_of(found.json("expect")?)?;
                if !release::same_platforms(&theirs, &staging.expect) {
                    return Ok(Opened::Conflict(format!(
                        "release {key} of {} expects {}; this submission expects {}",
                        new.target,
                        written(&theirs),
                        written(&staging.expect)
                    )));
                }
                return Ok(Opened::Stage(found.uuid("release_id")?));
            }
            ReleaseState::Failed => {}
        }
    }
    let id = Uuid::now_v7();
    let on_deadline = match staging.on_deadline {
        OnDeadline::Fail => "fail",
        OnDeadline::Push => "push",
    };
    let params = vec![
        Value::Uuid(id),
        Value::from(key.as_str()),
        Value::from(new.target.as_str()),
        Value::Json(expected),
        Value::from(on_deadline),
        Value::Secs(staging.deadline_secs as f64),
    ];
    tx.execute(&st.releases.insert, params).await?;
    Ok(Opened::Stage(id))
}

/// Marks list `list` a stage of release `release`.
pub(super) async fn attach<S: Session>(
    tx: &mut S,
    st: &Statements,
    list: Uuid,
    release: Uuid,
) -> Result<(), DbError> {
    tx.execute(&st.releases.set_list_release, args![list, release])
        .await?;
    Ok(())
}

/// Records a stage's entries: the list `staged`, and its release's list queued when the release
/// now has every platform it expects; a release that failed meanwhile fails the stage with it.
/// False when fenced out.
pub(super) async fn complete_stage<B: Backend>(
    db: &B,
    job: &ClaimedJob,
    entries: &[Entry],
    sources: &[SourcePin],
    max_attempts: u32,
) -> Result<bool, DbError> {
    let st = db.statements();
    let release_id = job.release_id.ok_or_else(|| DbError::Corrupt {
        what: "stage",
        message: format!("list {} names no release", job.list_id),
    })?;
    let mut tx = db.begin().await?;
    if !super::queue::finish_claimed(&mut tx, &st.queue, job).await? {
        return Ok(false);
    }
    super::queue::write_entries(&mut tx, &st.queue, job.list_id, entries).await?;
    let release = read(&mut tx, st, release_id, true)
        .await?
        .ok_or_else(|| DbError::Corrupt {
            what: "stage",
            message: format!("its release {release_id} does not exist"),
        })?;
    if matches!(release.state, ReleaseState::Failed | ReleaseState::Released) {
        let message = format!(
            "release {} ended before this stage landed: {}",
            release.key,
            release
                .error_message
                .as_deref()
                .unwrap_or("it was released already")
        );
        let code = ErrorCode::ReleaseIncomplete.as_str().into_owned();
        tx.execute(
            &st.queue.fail_list,
            args![job.list_id, "failed", code.as_str(), message.as_str()],
        )
        .await?;
        if job.options.callback_url.is_some() {
            queue_event(&mut tx, &st.queue, job.list_id, max_attempts, FINISHED).await?;
        }
    } else {
        let sources = serde_json::to_value(sources).unwrap_or_default();
        tx.execute(
            &st.releases.stage_list,
            vec![Value::Uuid(job.list_id), Value::Json(sources)],
        )
        .await?;
        if release.state == ReleaseState::Open {
            let now = read(&mut tx, st, release_id, false).await?;
            if now.is_some_and(|r| r.composed().complete()) {
                queue_release(&mut tx, st, release_id, max_attempts).await?;
            }
        }
    }
    tx.commit().await?;
    db.queued();
    Ok(true)
}

/// Queues the release's list: its first stage's spec, options and tags, without a callback of
/// its own (each stage list reports the outcome), pushing what the release's arrivals make.
async fn queue_release<S: Session>(
    tx: &mut S,
    st: &Statements,
    release_id: Uuid,
    max_attempts: u32,
) -> Result<Uuid, DbError> {
    let first = tx
        .fetch_optional(&st.releases.first_stage, args![release_id])
        .await?
        .ok_or_else(|| DbError::Corrupt {
            what: "release",
            message: format!("release {release_id} has no stage"),
        })?;
    let options = ListOptions {
        stage: None,
        callback_url: None,
        append: false,
        follow: false,
        ..rows::options(&first)?
    };
    let id = Uuid::now_v7();
    let params = vec![
        Value::Uuid(id),
        Value::from(&first.text("target")?.unwrap_or_default()),
        Value::Json(first.json("tags")?.unwrap_or_else(|| serde_json::json!([]))),
        Value::Json(serde_json::to_value(&options).unwrap_or_default()),
        Value::Json(first.json("spec")?.unwrap_or_default()),
        Value::from(&first.text("spec_text")?.unwrap_or_default()),
        Value::from(&first.text("spec_format")?.unwrap_or_default()),
        Value::from(None::<&str>),
        Value::from(&first.text("request_hash")?.unwrap_or_default()),
        Value::from(Operation::Release.as_str()),
        Value::Bool(false),
        Value::Json(serde_json::Value::Null),
    ];
    tx.execute(&st.lists.insert_list, params).await?;
    tx.execute(
        &st.queue.insert_job,
        args![id, "push", i64::from(max_attempts)],
    )
    .await?;
    attach(tx, st, id, release_id).await?;
    tx.execute(&st.releases.releasing, args![release_id, id])
        .await?;
    Ok(id)
}

/// How a release's list ended.
pub(super) enum Settled<'a> {
    /// It landed with this digest, media type and size.
    Released(&'a str, &'a str, u64),
    /// It failed for good (or was overtaken): the code and message its stages fail with.
    Failed(&'a str, &'a str),
}

/// Settles release `release_id`'s stage lists with its list's outcome and ends the release;
/// queues the callbacks of the stages that have one.
pub(super) async fn settle<S: Session>(
    tx: &mut S,
    st: &Statements,
    release_id: Uuid,
    outcome: Settled<'_>,
    max_attempts: u32,
) -> Result<(), DbError> {
    let staged = tx
        .fetch_all(&st.releases.staged_of, args![release_id])
        .await?;
    let (state, error) = match outcome {
        Settled::Released(digest, media_type, size) => {
            let size = i64::try_from(size).unwrap_or(i64::MAX);
            tx.execute(
                &st.releases.settle_succeeded,
                args![release_id, digest, media_type, size],
            )
            .await?;
            ("released", None)
        }
        Settled::Failed(code, message) => {
            tx.execute(&st.releases.settle_failed, args![release_id, code, message])
                .await?;
            ("failed", Some(message))
        }
    };
    for row in &staged {
        if rows::options(row)?.callback_url.is_some() {
            queue_event(tx, &st.queue, row.uuid("list_id")?, max_attempts, FINISHED).await?;
        }
    }
    tx.execute(&st.releases.end, args![release_id, state, error])
        .await?;
    Ok(())
}

/// Ends the open releases whose deadline passed: pushed as they are (`on_deadline: push`, with
/// at least one platform), else failed naming the missing platforms. How many it ended.
pub(super) async fn expire<B: Backend>(db: &B, max_attempts: u32) -> Result<usize, DbError> {
    let st = db.statements();
    let mut tx = db.begin().await?;
    let due = tx.fetch_all(&st.releases.due, Vec::new()).await?;
    let mut ended = 0;
    for row in &due {
        let Some(release) = read(&mut tx, st, row.uuid("release_id")?, true).await? else {
            continue;
        };
        if release.state != ReleaseState::Open {
            continue;
        }
        let composed = release.composed();
        if release.on_deadline == OnDeadline::Push && !composed.arrived.is_empty() {
            queue_release(&mut tx, st, release.id, max_attempts).await?;
        } else {
            let message = incomplete(&release, &composed);
            tracing::warn!(release = %release.id, "{message}");
            let code = ErrorCode::ReleaseIncomplete.as_str().into_owned();
            let failed = Settled::Failed(&code, &message);
            settle(&mut tx, st, release.id, failed, max_attempts).await?;
        }
        ended += 1;
    }
    tx.commit().await?;
    if ended > 0 {
        db.queued();
    }
    Ok(ended)
}

/// Why an incomplete release failed: what it waited for, and what arrived from which list.
fn incomplete(release: &ReleaseRecord, composed: &Composed<Uuid>) -> String {
    let arrived: Vec<String> = composed
        .arrived
        .iter()
        .map(|a| format!("{} (list {})", a.platform, a.list))
        .collect();
    format!(
        "release {} of {} reached its deadline without {}; arrived: {}; the tag was not moved",
        release.key,
        release.target,
        composed.awaited_text(),
        if arrived.is_empty() {
            "nothing".to_owned()
        } else {
            arrived.join(", ")
        }
    )
}

/// Reads release `id` with its stage lists (`lock`: its row locked for the transaction).
pub(super) async fn read<S: Session>(
    tx: &mut S,
    st: &Statements,
    id: Uuid,
    lock: bool,
) -> Result<Option<ReleaseRecord>, DbError> {
    let statement = if lock {
        &st.releases.lock
    } else {
        &st.releases.get
    };
    let Some(row) = tx.fetch_optional(statement, args![id]).await? else {
        return Ok(None);
    };
    let stages = tx.fetch_all(&st.releases.lists, args![id]).await?;
    let stages = stages
        .iter()
        .map(|s| {
            Ok(StageRecord {
                id: s.uuid("list_id")?,
                status: rows::named("list status", &s.text("status")?.unwrap_or_default())?,
                created_at: s.time("created_at")?.unwrap_or_default(),
                entries: rows::json("entries", s.json("entries")?)?.unwrap_or_default(),
                identity: rows::json("identity", s.json("identity")?)?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Some(ReleaseRecord {
        id: row.uuid("release_id")?,
        key: row.text("release_key")?.unwrap_or_default(),
        target: row.text("target")?.unwrap_or_default(),
        expect: expected_of(row.json("expect")?)?,
        on_deadline: if row.text("on_deadline")?.as_deref() == Some("push") {
            OnDeadline::Push
        } else {
            OnDeadline::Fail
        },
        state: ReleaseState::parse(&row.text("state")?.unwrap_or_default())?,
        deadline_at: row.time("deadline_at")?.unwrap_or_default(),
        list_id: row.uuid_opt("list_id")?,
        error_message: row.text("error_message")?,
        created_at: row.time("created_at")?.unwrap_or_default(),
        finished_at: row.time("finished_at")?,
        stages,
    }))
}

/// Reads release `id` outside a transaction.
pub(super) async fn get<B: Backend>(db: &B, id: Uuid) -> Result<Option<ReleaseRecord>, DbError> {
    let mut session = db.read().await?;
    read(&mut session, db.statements(), id, false).await
}

fn expected_of(value: Option<serde_json::Value>) -> Result<Vec<Platform>, DbError> {
    let texts: Vec<String> = rows::json("expect", value)?.unwrap_or_default();
    texts
        .iter()
        .map(|t| {
            Platform::parse(t).map_err(|message| DbError::Corrupt {
                what: "release",
                message,
            })
        })
        .collect()
}

fn written(platforms: &[Platform]) -> String {
    let names: Vec<String> = platforms.iter().map(ToString::to_string).collect();
    names.join(", ")
}
