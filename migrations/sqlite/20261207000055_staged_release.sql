-- no-transaction
-- Staged releases (as migrations/postgres/20261207000055_staged_release.sql says). A list may now
-- be `staged`, which the status's CHECK constraint must allow; SQLite cannot alter a constraint,
-- so `list` is rebuilt with it (and the `release_id` column), its indexes and its revision
-- trigger made again; foreign keys are off meanwhile (else dropping the old table would delete
-- every entry and job with it).
pragma foreign_keys = off;
begin;

create table staged_release (
    release_id    blob primary key,
    release_key   text not null,
    target        text not null,
    expect        text not null,
    on_deadline   text not null default 'fail',
    state         text not null default 'open',
    deadline_at   integer not null,
    list_id       blob,
    error_message text,
    created_at    integer not null,
    finished_at   integer,
    constraint staged_release_state_check
        check (state in ('open', 'releasing', 'released', 'failed')),
    constraint staged_release_on_deadline_check check (on_deadline in ('fail', 'push'))
);

create index staged_release_key_idx on staged_release (target, release_key, created_at desc);
create index staged_release_due_idx on staged_release (deadline_at) where state = 'open';

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
    revision          integer not null default 0,
    release_id        blob,
    repository        text generated always as (
        case
            when instr(target, ':') > 0
                 and instr(substr(target, length(rtrim(target, replace(target, ':', ''))) + 1), '/') = 0
            then substr(target, 1, length(rtrim(target, replace(target, ':', ''))) - 1)
            else target
        end
    ) virtual,
    constraint list_status_check
        check (status in ('queued', 'running', 'staged', 'succeeded', 'failed', 'canceled', 'superseded')),
    constraint list_drift_status_check check (drift_status in ('in_sync', 'drifted', 'unknown')),
    constraint list_idempotency_key_unique unique (idempotency_key)
);

insert into list_rebuilt (list_id, status, target, tags, options, spec, spec_text, spec_format,
    idempotency_key, request_hash, digest, media_type, size, error_code, error_message,
    callback_status, callback_attempts, callback_error, created_at, started_at, finished_at,
    updated_at, operation, seq, superseded_by, follow, follows, followed_by, drift_status,
    drift_checked_at, drift_reasons, drift_error, drift_next_at, drift_alerted, sources,
    callback_event, revision)
select list_id, status, target, tags, options, spec, spec_text, spec_format,
    idempotency_key, request_hash, digest, media_type, size, error_code, error_message,
    callback_status, callback_attempts, callback_error, created_at, started_at, finished_at,
    updated_at, operation, seq, superseded_by, follow, follows, followed_by, drift_status,
    drift_checked_at, drift_reasons, drift_error, drift_next_at, drift_alerted, sources,
    callback_event, revision
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
create index list_repository_status_idx
    on list (repository, status, created_at desc, list_id desc);
create index list_target_status_idx on list (target, status, created_at desc, list_id desc);
create index list_release_idx on list (release_id, seq) where release_id is not null;

create trigger list_revision after update on list
    for each row when new.revision = old.revision
begin
    update list set revision = old.revision + 1 where list_id = new.list_id;
end;

pragma foreign_key_check;
commit;
pragma foreign_keys = on;
