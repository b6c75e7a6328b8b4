-- no-transaction
-- Living lists (as migrations/postgres/20261202000003_living_lists.sql says). SQLite cannot change
-- a CHECK constraint, so `list` is rebuilt with the new status and columns; foreign keys are off
-- meanwhile (else dropping the old table would delete every entry and job with it).
pragma foreign_keys = off;
begin;

create table list_rebuilt (
    list_id           blob primary key,
    status            text not null default 'queued',
    target            text not null,
    tags              text not null default '[]',
    output_type       text not null,
    ignore_missing    integer not null default 0,
    spec              text not null,
    spec_text         text not null,
    spec_format       text not null,
    callback_url      text,
    idempotency_key   text,
    request_hash      text not null,
    digest            text,
    media_type        text,
    size              integer,
    error_code        text,
    error_message     text,
    callback_status   text,
    callback_attempts integer not null default 0,
    callback_error    text,
    created_at        integer not null,
    started_at        integer,
    finished_at       integer,
    updated_at        integer not null,
    operation         text not null default 'push',
    trust_platforms   integer not null default 0,
    seq               integer not null,
    superseded_by     blob,
    follow            integer not null default 0,
    follows           blob,
    followed_by       blob,
    drift_status      text,
    drift_checked_at  integer,
    drift_reasons     text,
    drift_error       text,
    drift_next_at     integer,
    drift_alerted     integer not null default 0,
    sources           text,
    callback_event    text,
    constraint list_status_check
        check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled', 'superseded')),
    constraint list_output_type_check check (output_type in ('docker', 'oci', 'auto')),
    constraint list_drift_status_check check (drift_status in ('in_sync', 'drifted', 'unknown')),
    constraint list_idempotency_key_unique unique (idempotency_key)
);

insert into list_rebuilt (list_id, status, target, tags, output_type, ignore_missing, spec,
    spec_text, spec_format, callback_url, idempotency_key, request_hash, digest, media_type, size,
    error_code, error_message, callback_status, callback_attempts, callback_error, created_at,
    started_at, finished_at, updated_at, operation, trust_platforms, seq)
select list_id, status, target, tags, output_type, ignore_missing, spec, spec_text, spec_format,
    callback_url, idempotency_key, request_hash, digest, media_type, size, error_code,
    error_message, callback_status, callback_attempts, callback_error, created_at, started_at,
    finished_at, updated_at, operation, trust_platforms,
    row_number() over (order by created_at, list_id)
from list;

drop table list;
alter table list_rebuilt rename to list;

create index list_created_at_idx on list (created_at desc, list_id desc);
create index list_status_idx on list (status, created_at desc);
create index list_target_idx on list (target, created_at desc);
create unique index list_seq_idx on list (seq);
create index list_target_seq_idx on list (target, seq);
create index list_active_target_idx on list (target, seq) where status in ('queued', 'running');
create index list_watch_idx on list (drift_next_at) where drift_next_at is not null;

-- The list of each target that landed last is watched, from now on.
update list set drift_next_at = cast(strftime('%s', 'now') as integer) * 1000000
where status = 'succeeded' and not exists (
    select 1 from list newer where newer.target = list.target and newer.status = 'succeeded'
      and (coalesce(newer.finished_at, 0) > coalesce(list.finished_at, 0)
           or (coalesce(newer.finished_at, 0) = coalesce(list.finished_at, 0) and newer.seq > list.seq))
);

pragma foreign_key_check;
commit;
pragma foreign_keys = on;
