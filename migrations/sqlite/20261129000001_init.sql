-- The same schema as migrations/postgres, for the embedded store. Timestamps are microseconds since
-- the Unix epoch (integers order correctly); ids are UUIDs as 16-byte blobs; JSON is text.

create table list (
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
    constraint list_status_check check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    constraint list_output_type_check check (output_type in ('docker', 'oci', 'auto')),
    constraint list_idempotency_key_unique unique (idempotency_key)
);

create index list_created_at_idx on list (created_at desc, list_id desc);
create index list_status_idx on list (status, created_at desc);
create index list_target_idx on list (target, created_at desc);

create table list_entry (
    list_id      blob not null references list (list_id) on delete cascade,
    position     integer not null,
    image        text not null,
    digest       text not null,
    media_type   text not null,
    size         integer not null,
    platform     text,
    annotations  text not null default '{}',
    attestation  integer not null default 0,
    primary key (list_id, position)
);

create index list_entry_digest_idx on list_entry (digest);

create table job (
    job_id        integer primary key autoincrement,
    list_id       blob not null references list (list_id) on delete cascade,
    kind          text not null,
    state         text not null default 'ready',
    attempt       integer not null default 0,
    max_attempts  integer not null,
    run_at        integer not null,
    locked_until  integer,
    locked_by     text,
    last_error    text,
    created_at    integer not null,
    finished_at   integer,
    constraint job_kind_check check (kind in ('push', 'callback')),
    constraint job_state_check check (state in ('ready', 'done', 'failed', 'canceled')),
    constraint job_list_kind_unique unique (list_id, kind)
);

create index job_ready_idx on job (run_at) where state = 'ready';
