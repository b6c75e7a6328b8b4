//! Lists: writing one with its push job, reading one or a page, and the two user transitions
//! (cancel, retry), following, keeping a landed list whole (repair) — once, for both backends.

use uuid::Uuid;

use super::publish;
use super::releases::{self, Opened};
use super::rows::{self, KeyPage, ListFilter, ListKey, ListRecord, NewList, Page};
use super::sql::{Backend, Driver, Pools, Row, Session, Value, args};
use super::statements::placeholders;
use super::{DbError, Inserted, Transition};
use crate::model::{ListOptions, ListStatus, Operation, Repair};

/// How many of [`insert_args`] are the list's own.
const LIST_PARAMS: usize = 12;

/// The parameters of `insert_list` ($1 … $12), then $13 for the job's attempts.
fn insert_args(id: Uuid, new: &NewList, max_attempts: u32) -> Vec<Value> {
    vec![
        Value::Uuid(id),
        Value::from(&new.target),
        Value::Json(serde_json::json!(new.tags)),
        Value::Json(serde_json::to_value(&new.options).unwrap_or_default()),
        Value::Json(new.spec.clone()),
        Value::from(&new.spec_text),
        Value::from(new.spec_format.as_str()),
        Value::from(&new.idempotency_key),
        Value::from(&new.request_hash),
        Value::from(new.operation.as_str()),
        Value::Bool(new.options.follow),
        Value::Json(serde_json::to_value(&new.identity).unwrap_or_default()),
        Value::from(i64::from(max_attempts)),
    ]
}

/// Writes a list and its push job atomically; answers the first list for a repeated
/// idempotency key, or says the key was used with another request.
pub(super) async fn insert<B: Backend>(
    db: &B,
    new: &NewList,
    max_attempts: u32,
) -> Result<Inserted, DbError> {
    let st = &db.statements().lists;
    let id = Uuid::now_v7();
    if new.idempotency_key.is_none()
        && new.options.stage.is_none()
        && new.more.is_empty()
        && let Some(one) = &st.insert_list_with_job
    {
        let mut session = db.write_one().await?;
        let row = session
            .fetch_optional(one, insert_args(id, new, max_attempts))
            .await?;
        let list = rows::list(&row.ok_or_else(|| vanished("insert"))?)?;
        return Ok(Inserted::New(list));
    }
    let mut tx = db.begin().await?;
    if let Some(key) = &new.idempotency_key {
        if let Some(lock) = &st.key_lock {
            tx.execute(lock, args![key]).await?;
        }
        if let Some(found) = tx.fetch_optional(&st.find_key, args![key]).await? {
            let first = found.uuid("list_id")?;
            let same = found.text("request_hash")?.as_ref() == Some(&new.request_hash);
            drop(tx);
            if !same {
                return Ok(Inserted::KeyReused);
            }
            return Ok(get(db, first)
                .await?
                .map_or(Inserted::KeyReused, Inserted::Existing));
        }
    }
    let opened = match &new.options.stage {
        None => None,
        Some(staging) => Some(releases::open(&mut tx, db.statements(), new, staging).await?),
    };
    let appended;
    let (new, release) = match opened {
        None => (new, None),
        Some(Opened::Stage(release)) => (new, Some(release)),
        Some(Opened::Conflict(message)) => return Ok(Inserted::Conflict(message)),
        Some(Opened::Append) => {
            appended = as_append(new);
            (&appended, None)
        }
    };
    let mut params = insert_args(id, new, max_attempts);
    params.truncate(LIST_PARAMS);
    tx.execute(&st.insert_list, params).await?;
    tx.execute(
        &db.statements().queue.insert_job,
        args![id, "push", i64::from(max_attempts)],
    )
    .await?;
    if let Some(release) = release {
        releases::attach(&mut tx, db.statements(), id, release).await?;
    }
    let only_list = |id, new: &NewList| {
        let mut params = insert_args(id, new, max_attempts);
        params.truncate(LIST_PARAMS);
        params
    };
    let publish = &db.statements().publish;
    publish::insert_members(&mut tx, &st.insert_list, publish, id, new, only_list).await?;
    let row = tx.fetch_optional(&st.get_list, args![id]).await?;
    let list = rows::list(&row.ok_or_else(|| vanished("insert"))?)?;
    tx.commit().await?;
    db.queued();
    Ok(Inserted::New(list))
}

/// A submission to a release that moved its tag already: an ordinary append to the target.
fn as_append(new: &NewList) -> NewList {
    let mut appended = new.clone();
    appended.operation = Operation::Append;
    appended.options.append = true;
    appended.options.stage = None;
    appended
}

fn vanished(when: &str) -> DbError {
    DbError::Corrupt {
        what: "list",
        message: format!("it vanished during {when}"),
    }
}

/// One list with its entries and attempts.
pub(super) async fn get<B: Backend>(db: &B, id: Uuid) -> Result<Option<ListRecord>, DbError> {
    let mut session = db.read().await?;
    session
        .fetch_optional(&db.statements().lists.get_list, args![id])
        .await?
        .map(|row| rows::list(&row))
        .transpose()
}

/// Most ids one statement names; more are read in several.
const IDS_AT_ONCE: usize = 128;

/// `ids` as the parameters of `in (…)`, their number rounded up to a power of two (the last id
/// repeated), so that a few statement texts serve every count and stay prepared.
fn id_params(ids: &[Uuid]) -> (String, Vec<Value>) {
    let n = ids.len().next_power_of_two();
    let last = ids.last().copied().unwrap_or_default();
    let params = ids
        .iter()
        .copied()
        .chain(std::iter::repeat(last))
        .take(n)
        .map(Value::Uuid)
        .collect();
    (placeholders(n), params)
}

/// What a row read by id is made into.
trait FromRow: Sized {
    fn read(row: &impl Row) -> Result<Self, DbError>;
}

impl FromRow for ListKey {
    fn read(row: &impl Row) -> Result<Self, DbError> {
        key(row)
    }
}

impl FromRow for ListRecord {
    fn read(row: &impl Row) -> Result<Self, DbError> {
        rows::list(row)
    }
}

/// Reads the rows `head` (a select ending in `in `) finds for `ids`, up to [`IDS_AT_ONCE`] at
/// a time.
async fn by_ids<B: Backend, T: FromRow>(
    db: &B,
    head: &str,
    ids: &[Uuid],
) -> Result<Vec<T>, DbError> {
    let mut found = Vec::with_capacity(ids.len());
    let mut session = db.read().await?;
    for chunk in ids.chunks(IDS_AT_ONCE) {
        let (list, params) = id_params(chunk);
        for row in session.fetch_all(&format!("{head}{list}"), params).await? {
            found.push(T::read(&row)?);
        }
    }
    Ok(found)
}

/// A list's id and revision, as a row has them.
fn key(row: &impl Row) -> Result<ListKey, DbError> {
    Ok(ListKey {
        id: row.uuid("list_id")?,
        revision: row.int("revision")?.unwrap_or(0),
    })
}

/// The revisions of those of `ids` that exist now, read on the kept connection (these reads run
/// one at a time).
pub(super) async fn revisions<DB>(db: &Pools<DB>, ids: &[Uuid]) -> Result<Vec<ListKey>, DbError>
where
    DB: Driver,
    DB::Row: Row,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let head = &db.statements().lists.revisions_head;
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_AT_ONCE) {
        let (list, params) = id_params(chunk);
        for row in db.fetch_kept(&format!("{head}{list}"), params).await? {
            found.push(key(&row)?);
        }
    }
    Ok(found)
}

/// Those of `ids` that exist, each read as [`get`] reads one, in no particular order.
pub(super) async fn get_many<B: Backend>(db: &B, ids: &[Uuid]) -> Result<Vec<ListRecord>, DbError> {
    by_ids(db, &db.statements().lists.get_lists_head, ids).await
}

/// A page as [`page`] finds it, its lists' keys only: one query, nothing joined.
pub(super) async fn page_keys<B: Backend>(db: &B, filter: &ListFilter) -> Result<KeyPage, DbError> {
    let limit = filter.limit.clamp(1, 200);
    let st = &db.statements().lists;
    let (sql, params) = page_query(&st.page_keys_select, filter, limit + 1);
    let mut session = db.read().await?;
    let found = session.fetch_all(&sql, params).await?;
    let mut items = Vec::with_capacity(found.len());
    let mut last = None;
    for row in found.iter().take(limit as usize) {
        let key = key(row)?;
        last = row.time("created_at")?.map(|t| (t, key.id));
        items.push(key);
    }
    let next = if found.len() as i64 > limit {
        last
    } else {
        None
    };
    Ok(KeyPage { items, next })
}

/// Lists, newest first, filtered, one page at a time (one query, entries included).
pub(super) async fn page<B: Backend>(db: &B, filter: &ListFilter) -> Result<Page, DbError> {
    let limit = filter.limit.clamp(1, 200);
    let (sql, params) = page_query(&db.statements().lists.page_select, filter, limit + 1);
    let mut session = db.read().await?;
    let found = session.fetch_all(&sql, params).await?;
    let mut items = found
        .iter()
        .map(rows::list)
        .collect::<Result<Vec<_>, _>>()?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = if more {
        items.last().map(|l| (l.created_at, l.id))
    } else {
        None
    };
    Ok(Page { items, next })
}

/// The page's statement with only the conditions its filter has (so the database can use the
/// index each needs), and their parameters. A target names one tag (`registry/repo:tag`), or a
/// repository (`registry/repo`): the `repository` column, which the database derives from each
/// list's target, so that a repository's newest lists are read from its index in page order,
/// however long its history. The text holds no value, only numbered parameters.
fn page_query(select: &str, filter: &ListFilter, limit: i64) -> (String, Vec<Value>) {
    let mut params = Vec::new();
    let mut next = |value: Value| {
        params.push(value);
        format!("${}", params.len())
    };
    let mut conditions = Vec::new();
    if let Some(status) = filter.status {
        conditions.push(format!("l.status = {}", next(Value::from(status.as_str()))));
    }
    if let Some(target) = &filter.target {
        let names_tag = target
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'));
        let column = if names_tag { "target" } else { "repository" };
        conditions.push(format!("l.{column} = {}", next(Value::from(target))));
    }
    if let Some((time, id)) = filter.before {
        let (time, id) = (next(Value::from(time)), next(Value::Uuid(id)));
        conditions.push(format!("(l.created_at, l.list_id) < ({time}, {id})"));
    }
    let filters = if conditions.is_empty() {
        String::new()
    } else {
        format!(" where {}", conditions.join(" and "))
    };
    let limit = next(Value::from(limit));
    let sql = format!("{select}{filters} order by l.created_at desc, l.list_id desc limit {limit}");
    (sql, params)
}

/// Cancels a queued list (one a worker holds cannot be canceled).
pub(super) async fn cancel<B: Backend>(db: &B, id: Uuid) -> Result<Transition, DbError> {
    let st = &db.statements().lists;
    let mut tx = db.begin().await?;
    let asked = id;
    let publish = &db.statements().publish;
    let id = publish::leader(&mut tx, publish, id).await?;
    let Some(found) = tx.fetch_optional(&st.cancel_find, args![id]).await? else {
        return Ok(Transition::NotFound);
    };
    let status: ListStatus = parse_status(found.text("status")?)?;
    let running = found.bool("leased")?;
    if status != ListStatus::Queued || running {
        let now = if running { ListStatus::Running } else { status };
        return Ok(Transition::Conflict(now));
    }
    tx.execute(&st.cancel_job, args![id]).await?;
    for list in std::iter::once(id).chain(publish::member_ids(&mut tx, publish, id).await?) {
        tx.execute(&st.cancel_list, args![list]).await?;
    }
    tx.commit().await?;
    after(db, asked).await
}

/// Queues a failed or canceled list again, with a fresh set of attempts.
pub(super) async fn retry<B: Backend>(
    db: &B,
    id: Uuid,
    max_attempts: u32,
) -> Result<Transition, DbError> {
    let st = &db.statements().lists;
    let mut tx = db.begin().await?;
    let asked = id;
    let publish = &db.statements().publish;
    let id = publish::leader(&mut tx, publish, id).await?;
    let Some(found) = tx.fetch_optional(&st.retry_find, args![id]).await? else {
        return Ok(Transition::NotFound);
    };
    let status = parse_status(found.text("status")?)?;
    if !status.can_retry() {
        return Ok(Transition::Conflict(status));
    }
    tx.execute(&st.retry_job, args![id, i64::from(max_attempts)])
        .await?;
    for list in std::iter::once(id).chain(publish::member_ids(&mut tx, publish, id).await?) {
        tx.execute(&st.retry_list, args![list]).await?;
    }
    tx.commit().await?;
    db.queued();
    after(db, asked).await
}

/// Starts following a list (`on`), or stops following it and every follow-up after it; the list
/// as it is now, or `None` when there is no such list.
pub(super) async fn set_follow<B: Backend>(
    db: &B,
    id: Uuid,
    on: bool,
) -> Result<Option<ListRecord>, DbError> {
    let st = &db.statements().lists;
    let mut session = db.write_one().await?;
    if on {
        session.execute(&st.set_follow, args![id, true]).await?;
    } else {
        session.execute(&st.unfollow_chain, args![id]).await?;
    }
    session.commit().await?;
    get(db, id).await
}

/// Sets what the watch does when it finds list `id` no longer whole (`repair`), and makes it due
/// for a check now when it is watched. Only the list its target holds now (it landed, and no
/// later list replaced it) may change it: another is a conflict.
pub(super) async fn set_repair<B: Backend>(
    db: &B,
    id: Uuid,
    repair: Repair,
) -> Result<Transition, DbError> {
    let st = &db.statements().lists;
    let mut tx = db.begin().await?;
    let Some(found) = tx.fetch_optional(&st.repair_find, args![id]).await? else {
        return Ok(Transition::NotFound);
    };
    let status = parse_status(found.text("status")?)?;
    let stage = found.text("operation")?.as_deref() == Some(Operation::Stage.as_str());
    if status != ListStatus::Succeeded || stage || found.uuid_opt("replaced_by")?.is_some() {
        return Ok(Transition::Conflict(status));
    }
    let mut options: ListOptions =
        rows::json("options", found.json("options")?)?.unwrap_or_default();
    options.repair = repair;
    let options = serde_json::to_value(&options).unwrap_or_default();
    tx.execute(&st.set_options, vec![Value::Uuid(id), Value::Json(options)])
        .await?;
    tx.commit().await?;
    after(db, id).await
}

fn parse_status(text: Option<String>) -> Result<ListStatus, DbError> {
    let text = text.unwrap_or_default();
    text.parse()
        .map_err(|e: crate::model::UnknownName| DbError::Corrupt {
            what: "list status",
            message: e.to_string(),
        })
}

async fn after<B: Backend>(db: &B, id: Uuid) -> Result<Transition, DbError> {
    Ok(match get(db, id).await? {
        Some(list) => Transition::Done(Box::new(list)),
        None => Transition::NotFound,
    })
}
