//! Every SQL statement of the store, written once in [`Statements::new`], with the few fragments
//! where the dialects differ (what "now" is, an interval, row locks, the next sequence number)
//! taken from a [`Dialect`].

/// Where the dialects differ.
pub(crate) struct Dialect {
    /// The current time as an expression of the column type.
    pub now: &'static str,
    /// A new list's `created_at`: the current time, strictly after every list's where the clock
    /// is too coarse to order lists written in one millisecond.
    pub created_at: &'static str,
    /// The next submission's sequence number (higher than every list's).
    pub next_seq: &'static str,
    /// The current time plus a parameter holding seconds (`{}` is the parameter).
    pub after_secs: &'static str,
    /// The larger of two times (`greatest` or `max`).
    pub greatest: &'static str,
    /// Locks the rows a select reads until the transaction ends (empty where there is one writer).
    pub for_update: &'static str,
    /// Locks the rows a select reads, skipping those others hold (empty where there is one
    /// writer).
    pub skip_locked: &'static str,
    /// A list's entries as a JSON array, ordered (`l` is the list).
    pub entries_json: &'static str,
    /// Serialises the first uses of one idempotency key ($1) in a transaction, if needed.
    pub key_lock: Option<&'static str>,
    /// Tries to take a target ($1) for the rest of the transaction, answering `locked`, where
    /// several processes claim jobs at once.
    pub target_lock: Option<&'static str>,
    /// A list and its push job inserted by one statement, answering the list, if the dialect can.
    pub insert_with_job: bool,
    /// A JSON column as text (`{}` is the column).
    pub json_text: &'static str,
    /// The lists of the publish list `l` is one of, as a JSON array in order (null for a list
    /// of one destination).
    pub publish_json: &'static str,
    /// Ends a subquery that the planner must run as it is written, per row of the query around
    /// it, instead of joining it into that query (PostgreSQL's `offset 0`).
    pub subquery_fence: &'static str,
}

/// Every statement of the store, in one dialect.
pub(crate) struct Statements {
    /// Lists: write, read, page, cancel, retry, follow.
    pub lists: ListStatements,
    /// The queue: claim, lease, record.
    pub queue: QueueStatements,
    /// The watch: due lists, what it found, follow-ups.
    pub watch: WatchStatements,
    /// Staged releases: opened, arrivals, released, ended at their deadline.
    pub releases: ReleaseStatements,
    /// A publish's lists: joined, read, moved with the first.
    pub publish: super::publish::PublishStatements,
    /// The readiness probe's write ($1: the probe's row).
    pub probe: String,
}

/// The statements of `lists.rs`.
pub(crate) struct ListStatements {
    pub get_list: String,
    pub get_lists_head: String,
    pub page_select: String,
    pub page_keys_select: String,
    pub revisions_head: String,
    pub insert_list: String,
    pub insert_list_with_job: Option<String>,
    pub key_lock: Option<String>,
    pub find_key: String,
    pub cancel_find: String,
    pub cancel_job: String,
    pub cancel_list: String,
    pub retry_find: String,
    pub retry_job: String,
    pub retry_list: String,
    pub set_follow: String,
    pub unfollow_chain: String,
    pub repair_find: String,
    pub set_options: String,
}

/// `($1, $2, …)` for `n` parameters.
pub(crate) fn placeholders(n: usize) -> String {
    let params: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!("({})", params.join(", "))
}

/// The statements of `queue.rs`.
pub(crate) struct QueueStatements {
    pub insert_job: String,
    pub claim_candidates: String,
    pub target_lock: Option<String>,
    pub lock_list: Option<String>,
    pub try_lock_list: Option<String>,
    pub claim_job: String,
    pub claim_list_running: String,
    pub claim_list_read: String,
    pub extend_lease: String,
    pub reschedule: String,
    pub finish_job: String,
    pub delete_entries: String,
    pub insert_entries_head: String,
    pub succeed_list: String,
    pub unwatch_others: String,
    pub replace_others: String,
    pub supersede_list: String,
    pub fail_list: String,
    pub callback_pending: String,
    pub callback_of: String,
    pub callback_list: String,
    pub queue_depth: String,
    pub next_due: String,
}

/// The statements of `watch.rs`.
pub(crate) struct WatchStatements {
    pub take_due: String,
    pub find: String,
    pub record: String,
    pub pending_newer: String,
    pub follow_up: String,
    pub handed_over: String,
    pub repairs_since: String,
    pub pushed_here: String,
    pub repair: String,
    pub drifted: String,
    pub in_sync: String,
    pub backlog: String,
    pub wake: String,
    pub last_event: String,
    pub insert_event: String,
    pub in_sync_events: String,
    pub target_events: String,
}

/// The columns of a list read, with its push job's attempts and its entries.
const LIST_COLUMNS: &str = "l.list_id, l.revision, l.status, l.target, l.tags, l.options, \
    l.spec_text, l.spec_format, l.digest, l.media_type, l.size, \
    l.error_code, l.error_message, l.callback_status, l.callback_attempts, l.callback_error, \
    l.created_at, l.started_at, l.finished_at, l.operation, l.seq, \
    l.superseded_by, l.follow, l.follows, l.followed_by, l.drift_status, l.drift_checked_at, \
    l.drift_reasons, l.drift_error, l.drift_next_at, l.sources, l.callback_event, l.release_id, \
    l.replaced_by, l.identity, l.publish_id, \
    coalesce(j.attempt, 0) as attempts, j.max_attempts, j.run_at as next_run";

/// Where a list read reads from.
/// (A publish's lists share the push job of its first list.)
const LIST_FROM: &str = "from list l left join job j on j.list_id = l.owner and j.kind = 'push'";

/// The columns an `insert into list` writes, in parameter order from $1 ($11: the push job's
/// attempts, where one statement writes both).
const INSERT_COLUMNS: &str = "list_id, target, tags, options, spec, spec_text, spec_format, \
    idempotency_key, request_hash, operation, follow, identity, seq, created_at, updated_at";

/// The columns of a list a claim reads beside its job.
const CLAIM_COLUMNS: &str = "spec, options, follow, operation, target, seq, release_id";

/// Whether the push job `{job}` of list `{list}` must wait: another push job of its target (of any
/// destination, for a publish's first list; another publish's lists wait on its job) holds
/// a lease, or an older one is due. (Jobs of one target run one at a time, oldest first; one
/// waiting out a backoff does not hold the others up.) The inner check runs per list of the job,
/// from that list's target: joined into one query, PostgreSQL without statistics (a new
/// database, a queue filled in a minute) started from every ready job instead, and a claim among
/// 300 queued lists took over a second.
const BLOCKED: &str = "exists (select 1 from list l where l.owner = {list} \
    and exists (select 1 from list m join job k on k.list_id = m.owner and k.kind = 'push' \
    where m.target = l.target and m.status in ('queued', 'running') and k.state = 'ready' \
    and k.job_id <> {job} \
    and (k.locked_until >= {now} or (m.seq < l.seq and k.run_at <= {now})){fence}))";

/// The newest list of the claimed list's target (`list`) that landed after it was submitted and
/// overtakes it: any newer list overtakes one that replaces the target (a push, a copy); only a
/// newer replacing one overtakes an edit (an append, a removal).
const NEWER_SUCCESS: &str = "(select m.list_id from list m where m.target = list.target \
    and m.seq > list.seq and m.status = 'succeeded' \
    and list.operation <> 'stage' and m.operation <> 'stage' \
    and (list.operation in ('push', 'copy', 'release', 'rollback', 'repair') \
        or m.operation in ('push', 'copy', 'release', 'rollback', 'repair')) \
    order by m.seq desc limit 1) as superseded_by";

/// The columns of `list_entry` a push writes, in parameter order.
pub(crate) const ENTRY_COLUMNS: usize = 9;

impl Statements {
    /// The statements in dialect `d`.
    pub(crate) fn new(d: &Dialect) -> Self {
        Self {
            lists: ListStatements::new(d),
            queue: QueueStatements::new(d),
            watch: WatchStatements::new(d),
            releases: ReleaseStatements::new(d),
            publish: super::publish::PublishStatements::new(d),
            probe: format!(
                "insert into store_probe (probe_id, probed_at) values ($1, {now}) \
                 on conflict (probe_id) do update set probed_at = excluded.probed_at",
                now = d.now
            ),
        }
    }
}

/// [`BLOCKED`] for the job and list these expressions name.
fn blocked(d: &Dialect, job: &str, list: &str) -> String {
    BLOCKED
        .replace("{job}", job)
        .replace("{list}", list)
        .replace("{now}", d.now)
        .replace("{fence}", d.subquery_fence)
}

impl ListStatements {
    fn new(d: &Dialect) -> Self {
        let now = d.now;
        let select = format!(
            "select {LIST_COLUMNS}, {} as entries, {} as publish",
            d.entries_json, d.publish_json
        );
        let values = format!(
            "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, {}, {}, {now}",
            d.next_seq, d.created_at
        );
        Self {
            get_list: format!("{select} {LIST_FROM} where l.list_id = $1"),
            get_lists_head: format!("{select} {LIST_FROM} where l.list_id in "),
            page_select: format!("{select} {LIST_FROM}"),
            page_keys_select: "select l.list_id, l.revision, l.created_at from list l".to_owned(),
            revisions_head: "select list_id, revision from list where list_id in ".to_owned(),
            insert_list: format!("insert into list ({INSERT_COLUMNS}) values ({values})"),
            insert_list_with_job: d.insert_with_job.then(|| {
                format!(
                    "with l as (insert into list ({INSERT_COLUMNS}) values ({values}) \
                     returning *), \
                     j as (insert into job (list_id, kind, max_attempts, run_at, created_at) \
                     select list_id, 'push', $13, {now}, {now} from l \
                     returning list_id, attempt, max_attempts, run_at) \
                     {select} from l left join j on j.list_id = l.list_id"
                )
            }),
            key_lock: d.key_lock.map(str::to_owned),
            find_key: "select list_id, request_hash from list where idempotency_key = $1"
                .to_owned(),
            cancel_find: format!(
                "select l.status, coalesce(j.locked_until >= {now}, false) as leased \
                 from list l join job j on j.list_id = l.list_id and j.kind = 'push' \
                 where l.list_id = $1 {}",
                d.for_update
            ),
            cancel_job: format!(
                "update job set state = 'canceled', finished_at = {now} \
                 where list_id = $1 and kind = 'push'"
            ),
            cancel_list: format!(
                "update list set status = 'canceled', finished_at = {now}, updated_at = {now} \
                 where list_id = $1"
            ),
            retry_find: format!(
                "select l.status from list l where l.list_id = $1 {}",
                d.for_update
            ),
            retry_job: format!(
                "update job set state = 'ready', run_at = {now}, locked_until = null, \
                 max_attempts = attempt + $2, finished_at = null \
                 where list_id = $1 and kind = 'push'"
            ),
            retry_list: format!(
                "update list set status = 'queued', error_code = null, error_message = null, \
                 superseded_by = null, publish_outcome = null, seq = {}, finished_at = null, \
                 updated_at = {now} \
                 where list_id = $1",
                d.next_seq
            ),
            set_follow: format!(
                "update list set follow = $2, updated_at = {now} where list_id = $1"
            ),
            unfollow_chain: format!(
                "with recursive chain (id) as (select list_id from list where list_id = $1 \
                 union select l.followed_by from list l join chain c on l.list_id = c.id \
                 where l.followed_by is not null) \
                 update list set follow = false, updated_at = {now} \
                 where list_id in (select id from chain) and follow"
            ),
            repair_find: format!(
                "select status, operation, replaced_by, options from list where list_id = $1 {}",
                d.for_update
            ),
            set_options: format!(
                "update list set options = $2, updated_at = {now}, drift_next_at = \
                 case when drift_next_at is null then null else {now} end where list_id = $1"
            ),
        }
    }
}

impl QueueStatements {
    fn new(d: &Dialect) -> Self {
        let now = d.now;
        let lease = |param: &str| d.after_secs.replace("{}", param);
        let due = |j: &str| {
            format!(
                "{j}state = 'ready' and {j}run_at <= {now} \
                 and ({j}locked_until is null or {j}locked_until < {now})"
            )
        };
        Self {
            insert_job: format!(
                "insert into job (list_id, kind, max_attempts, run_at, created_at) \
                 values ($1, $2, $3, {now}, {now}) \
                 on conflict (list_id, kind) do update set state = 'ready', attempt = 0, \
                 max_attempts = excluded.max_attempts, run_at = excluded.run_at, \
                 locked_until = null, last_error = null, finished_at = null"
            ),
            claim_candidates: format!(
                "select j.job_id, j.list_id, j.kind, l.target, l.publish_id from job j \
                 join list l on l.list_id = j.list_id where {} \
                 and (j.kind <> 'push' or not {}) order by j.run_at, j.job_id limit 8",
                due("j."),
                blocked(d, "j.job_id", "j.list_id")
            ),
            target_lock: d.target_lock.map(str::to_owned),
            lock_list: (!d.for_update.is_empty()).then(|| {
                format!(
                    "select list_id from list where list_id = $1 {}",
                    d.for_update
                )
            }),
            try_lock_list: (!d.skip_locked.is_empty()).then(|| {
                format!(
                    "select list_id from list where list_id = $1 {}",
                    d.skip_locked
                )
            }),
            claim_job: format!(
                "update job set attempt = attempt + 1, locked_until = {}, locked_by = $1 \
                 where job_id = $3 and {} and (kind <> 'push' or not {}) \
                 returning job_id, list_id, kind, attempt, max_attempts",
                lease("$2"),
                due(""),
                blocked(d, "job.job_id", "job.list_id")
            ),
            claim_list_running: format!(
                "update list set status = 'running', started_at = coalesce(started_at, {now}), \
                 updated_at = {now} where list_id = $1 returning {CLAIM_COLUMNS}, {NEWER_SUCCESS}"
            ),
            claim_list_read: format!("select {CLAIM_COLUMNS} from list where list_id = $1"),
            extend_lease: format!(
                "update job set locked_until = {} \
                 where job_id = $1 and attempt = $2 and state = 'ready'",
                lease("$3")
            ),
            reschedule: "update job set run_at = $3, locked_until = null, last_error = $4 \
                 where job_id = $1 and attempt = $2 and state = 'ready'"
                .to_owned(),
            finish_job: format!(
                "update job set state = $3, locked_until = null, finished_at = {now}, \
                 last_error = coalesce($4, last_error) \
                 where job_id = $1 and attempt = $2 and state = 'ready'"
            ),
            delete_entries: "delete from list_entry where list_id = $1".to_owned(),
            insert_entries_head: "insert into list_entry (list_id, position, image, digest, \
                 media_type, size, platform, annotations, attestation) values "
                .to_owned(),
            succeed_list: format!(
                "update list set status = 'succeeded', digest = $2, media_type = $3, size = $4, \
                 sources = $5, error_code = null, error_message = null, \
                 drift_status = 'in_sync', drift_checked_at = {now}, drift_reasons = '[]', \
                 drift_error = null, drift_alerted = false, drift_next_at = $6, \
                 finished_at = {now}, updated_at = {now} \
                 where list_id = $1"
            ),
            replace_others: format!(
                "update list set replaced_by = $1, updated_at = {now} \
                 where target = (select target from list where list_id = $1) \
                 and list_id <> $1 and status = 'succeeded' and operation <> 'stage' \
                 and replaced_by is null and seq < (select seq from list where list_id = $1)"
            ),
            unwatch_others: "update list set drift_next_at = null \
                 where target = (select target from list where list_id = $1) \
                 and list_id <> $1 and drift_next_at is not null"
                .to_owned(),
            supersede_list: format!(
                "update list set status = 'superseded', superseded_by = $2, error_code = null, \
                 error_message = null, finished_at = {now}, updated_at = {now} \
                 where list_id = $1"
            ),
            fail_list: format!(
                "update list set status = $2, error_code = $3, error_message = $4, \
                 updated_at = {now}, finished_at = case when $2 = 'failed' then {now} else null end \
                 where list_id = $1"
            ),
            callback_pending: "update list set callback_status = 'pending', callback_event = $2 \
                 where list_id = $1"
                .to_owned(),
            callback_of: "select options, follow from list where list_id = $1".to_owned(),
            callback_list: format!(
                "update list set callback_status = $2, callback_attempts = $3, \
                 callback_error = $4, updated_at = {now} where list_id = $1"
            ),
            queue_depth: "select kind, count(*) as n from job where state = 'ready' \
                 group by kind order by kind"
                .to_owned(),
            next_due: format!(
                "select min({}(run_at, coalesce(locked_until, run_at))) as due from job \
                 where state = 'ready'",
                d.greatest
            ),
        }
    }

    /// `insert into list_entry … values (…), (…)` for `rows` entries.
    pub(crate) fn insert_entries(&self, rows: usize) -> String {
        let mut sql = self.insert_entries_head.clone();
        for row in 0..rows {
            let first = row * ENTRY_COLUMNS + 1;
            let params: Vec<String> = (first..first + ENTRY_COLUMNS)
                .map(|n| format!("${n}"))
                .collect();
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&params.join(", "));
            sql.push(')');
        }
        sql
    }
}

impl WatchStatements {
    fn new(d: &Dialect) -> Self {
        let now = d.now;
        Self {
            wake: format!(
                "update list set drift_next_at = {now} where drift_next_at is not null \
                 and drift_next_at > {now} and (repository = $1 or {} like $2)",
                d.json_text.replace("{}", "sources")
            ),
            take_due: format!(
                "update list set drift_next_at = {} where list_id in (select list_id from list \
                 where drift_next_at <= {now} order by drift_next_at limit $2 {}) \
                 returning list_id",
                d.after_secs.replace("{}", "$1"),
                d.skip_locked
            ),
            find: format!(
                "select drift_alerted, follow, options, target, seq, digest, tags from list \
                 where list_id = $1 and drift_next_at is not null {}",
                d.for_update
            ),
            record: format!(
                "update list set drift_status = $2, drift_checked_at = {now}, \
                 drift_reasons = $3, drift_error = $4, drift_alerted = $5, updated_at = {now} \
                 where list_id = $1"
            ),
            pending_newer: "select list_id from list where target = $1 and seq > $2 \
                 and status in ('queued', 'running') limit 1"
                .to_owned(),
            follow_up: format!(
                "insert into list (list_id, target, tags, options, spec, spec_text, spec_format, \
                 request_hash, operation, follow, follows, identity, seq, created_at, updated_at) \
                 select $2, target, tags, options, spec, spec_text, spec_format, request_hash, \
                 operation, true, list_id, identity, {}, {}, {now} from list where list_id = $1",
                d.next_seq, d.created_at
            ),
            handed_over: format!(
                "update list set follow = false, followed_by = $2, updated_at = {now} \
                 where list_id = $1"
            ),
            repairs_since: format!(
                "select count(*) as n from list where target = $1 and operation = 'repair' \
                 and created_at > {}",
                d.after_secs.replace("{}", "$2")
            ),
            pushed_here: "select list_id from list where target = $1 and digest = $2 \
                 and status = 'succeeded' limit 1"
                .to_owned(),
            repair: format!(
                "insert into list (list_id, target, tags, options, spec, spec_text, spec_format, \
                 request_hash, operation, follow, follows, identity, seq, created_at, updated_at) \
                 select $2, target, tags, options, $3, $4, 'json', request_hash, 'repair', \
                 follow, list_id, identity, {}, {}, {now} from list where list_id = $1",
                d.next_seq, d.created_at
            ),
            drifted: "select count(*) as n from list \
                 where drift_next_at is not null and drift_status = 'drifted'"
                .to_owned(),
            in_sync: format!(
                "update list set drift_status = 'in_sync', drift_checked_at = {now}, \
                 drift_reasons = '[]', drift_error = null, drift_alerted = false, \
                 updated_at = {now} where drift_next_at is not null"
            ),
            backlog: format!(
                "select count(*) as n, min(drift_next_at) as oldest from list \
                 where drift_next_at <= {now}"
            ),
            last_event: "select status, reasons from drift_event where list_id = $1 \
                 order by event_id desc limit 1"
                .to_owned(),
            insert_event: format!(
                "insert into drift_event (list_id, target, at, status, reasons, observed) \
                 values ($1, $2, {now}, $3, $4, $5)"
            ),
            in_sync_events: format!(
                "insert into drift_event (list_id, target, at, status, reasons, observed) \
                 select l.list_id, l.target, {now}, 'in_sync', '[]', l.digest from list l \
                 where l.drift_next_at is not null and coalesce((select e.status \
                 from drift_event e where e.list_id = l.list_id \
                 order by e.event_id desc limit 1), 'in_sync') <> 'in_sync'"
            ),
            target_events: "select list_id, at, status, reasons, observed from drift_event \
                 where target = $1 order by at desc, event_id desc limit $2"
                .to_owned(),
        }
    }
}

/// The statements of `releases.rs`.
pub(crate) struct ReleaseStatements {
    pub find: String,
    pub insert: String,
    pub set_list_release: String,
    pub get: String,
    pub lock: String,
    pub lists: String,
    pub stage_list: String,
    pub first_stage: String,
    pub releasing: String,
    pub staged_of: String,
    pub settle_succeeded: String,
    pub settle_failed: String,
    pub end: String,
    pub due: String,
}

/// The columns of a staged release.
const RELEASE_COLUMNS: &str = "release_id, release_key, target, expect, on_deadline, state, \
    deadline_at, list_id, error_message, created_at, finished_at";

impl ReleaseStatements {
    fn new(d: &Dialect) -> Self {
        let (now, lock) = (d.now, d.for_update);
        let of_release = "where release_id = $1 and operation = 'stage'";
        Self {
            find: format!(
                "select release_id, state, expect from staged_release \
                 where target = $1 and release_key = $2 order by created_at desc limit 1 {lock}"
            ),
            insert: format!(
                "insert into staged_release (release_id, release_key, target, expect, on_deadline, \
                 deadline_at, created_at) values ($1, $2, $3, $4, $5, {}, {now})",
                d.after_secs.replace("{}", "$6")
            ),
            set_list_release: "update list set release_id = $2 where list_id = $1".to_owned(),
            get: format!("select {RELEASE_COLUMNS} from staged_release where release_id = $1"),
            lock: format!(
                "select {RELEASE_COLUMNS} from staged_release where release_id = $1 {lock}"
            ),
            lists: format!(
                "select l.list_id, l.status, l.created_at, l.identity, {} as entries from list l \
                 where l.release_id = $1 and l.operation = 'stage' order by l.seq",
                d.entries_json
            ),
            stage_list: format!(
                "update list set status = 'staged', sources = $2, error_code = null, \
                 error_message = null, updated_at = {now} where list_id = $1"
            ),
            first_stage: format!(
                "select target, tags, options, follow, spec, spec_text, spec_format, request_hash \
                 from list {of_release} order by seq limit 1"
            ),
            releasing: "update staged_release set state = 'releasing', list_id = $2 \
                 where release_id = $1"
                .to_owned(),
            staged_of: format!(
                "select list_id, options, follow from list {of_release} and status = 'staged' {lock}"
            ),
            settle_succeeded: format!(
                "update list set status = 'succeeded', digest = $2, media_type = $3, size = $4, \
                 finished_at = {now}, updated_at = {now} {of_release} and status = 'staged'"
            ),
            settle_failed: format!(
                "update list set status = 'failed', error_code = $2, error_message = $3, \
                 finished_at = {now}, updated_at = {now} {of_release} and status = 'staged'"
            ),
            end: format!(
                "update staged_release set state = $2, error_message = $3, finished_at = {now} \
                 where release_id = $1"
            ),
            due: format!(
                "select release_id from staged_release where state = 'open' \
                 and deadline_at <= {now} order by deadline_at limit 16 {}",
                d.skip_locked
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect() -> Dialect {
        Dialect {
            now: "now()",
            created_at: "now()",
            next_seq: "1",
            after_secs: "now() + {}",
            greatest: "greatest",
            for_update: "",
            skip_locked: "",
            entries_json: "'[]'",
            key_lock: None,
            target_lock: None,
            insert_with_job: false,
            json_text: "{}",
            publish_json: "null",
            subquery_fence: "",
        }
    }

    #[test]
    fn a_batch_of_entries_numbers_its_parameters_row_by_row() {
        let sql = Statements::new(&dialect()).queue.insert_entries(2);
        assert!(
            sql.ends_with("values ($1, $2, $3, $4, $5, $6, $7, $8, $9), ($10, $11, $12, $13, $14, $15, $16, $17, $18)"),
            "{sql}"
        );
    }

    #[test]
    fn a_claim_checks_the_target_of_the_job_it_takes_and_of_no_other() {
        let st = Statements::new(&dialect()).queue;
        for (sql, job) in [(&st.claim_job, "job"), (&st.claim_candidates, "j")] {
            for part in [
                format!("from list l where l.owner = {job}.list_id and exists"),
                format!("k.job_id <> {job}.job_id"),
            ] {
                assert!(sql.contains(&part), "{part}: {sql}");
            }
        }
        assert!(!st.claim_job.contains('{'), "{}", st.claim_job);
    }
}
