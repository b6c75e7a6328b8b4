-- no-transaction
-- A submission's options as one JSON document, `options` (as
-- migrations/postgres/20261207000020_list_options.sql says). SQLite cannot drop a column a CHECK
-- constraint names (`output_type`), so `list` is rebuilt without the five columns; foreign keys
-- are off meanwhile (else dropping the old table would delete every entry and job with it).
pragma foreign_keys = off;
begin;

create table list_rebuilt (
    list_id           blob primary key,
    status            text not null default 'queued',
    target            text not null,
    tags              text not null default '[]',
    options           text not null default '{}',
    spec              text not null,
    spec_text         text not null,
    spec_format       text not null,
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
    repository        text generated always as (
        case
            when instr(target, ':') > 0
                 and instr(substr(target, length(rtrim(target, replace(target, ':', ''))) + 1), '/') = 0
            then substr(target, 1, length(rtrim(target, replace(target, ':', ''))) - 1)
            else target
        end
    ) virtual,
    constraint list_status_check
        check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled', 'superseded')),
    constraint list_drift_status_check check (drift_status in ('in_sync', 'drifted', 'unknown')),
    constraint list_idempotency_key_unique unique (idempotency_key)
);

insert into list_rebuilt (list_id, status, target, tags, options, spec, spec_text, spec_format,
    idempotency_key, request_hash, digest, media_type, size, error_code, error_message,
    callback_status, callback_attempts, callback_error, created_at, started_at, finished_at,
    updated_at, operation, seq, superseded_by, follow, follows, followed_by, drift_status,
    drift_checked_at, drift_reasons, drift_error, drift_next_at, drift_alerted, sources,
    callback_event)
select list_id, status, target, tags,
    json_object('type', output_type,
        'ignore_missing', json(case when ignore_missing then 'true' else 'false' end),
        'append', json(case when operation = 'append' then 'true' else 'false' end),
        'trust_platforms', json(case when trust_platforms then 'true' else 'false' end),
        'follow', json(case when follow then 'true' else 'false' end),
        'referrers', json(case when referrers then 'true' else 'false' end),
        'callback_url', callback_url),
    spec, spec_text, spec_format, idempotency_key, request_hash, digest, media_type, size,
    error_code, error_message, callback_status, callback_attempts, callback_error, created_at,
    started_at, finished_at, updated_at, operation, seq, superseded_by, follow, follows,
    followed_by, drift_status, drift_checked_at, drift_reasons, drift_error, drift_next_at,
    drift_alerted, sources, callback_event
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
create index list_repository_idx on list (repository, created_at desc, list_id desc);

pragma foreign_key_check;
commit;
pragma foreign_keys = on;
