-- Lists submitted for pushing, their entries once pushed, and the queue of jobs that push them.

create table list (
    list_id          uuid primary key,
    status           text not null default 'queued',
    target           text not null,
    tags             jsonb not null default '[]',
    output_type      text not null,
    ignore_missing   boolean not null default false,
    spec             jsonb not null,
    spec_text        text not null,
    spec_format      text not null,
    callback_url     text,
    idempotency_key  text,
    request_hash     text not null,
    digest           text,
    media_type       text,
    size             bigint,
    error_code       text,
    error_message    text,
    callback_status  text,
    callback_attempts integer not null default 0,
    callback_error   text,
    created_at       timestamptz not null default now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz not null default now(),
    constraint list_status_check check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    constraint list_output_type_check check (output_type in ('docker', 'oci', 'auto')),
    constraint list_idempotency_key_unique unique (idempotency_key)
);

create index list_created_at_idx on list (created_at desc, list_id desc);
create index list_status_idx on list (status, created_at desc);
create index list_target_idx on list (target, created_at desc);

create table list_entry (
    list_id      uuid not null references list (list_id) on delete cascade,
    position     integer not null,
    image        text not null,
    digest       text not null,
    media_type   text not null,
    size         bigint not null,
    platform     jsonb,
    annotations  jsonb not null default '{}',
    attestation  boolean not null default false,
    primary key (list_id, position)
);

create index list_entry_digest_idx on list_entry (digest);

-- One row per unit of work: pushing a list, or delivering its callback.
-- state: ready (waiting or running under a lease), done, failed, canceled.
create table job (
    job_id        bigserial primary key,
    list_id       uuid not null references list (list_id) on delete cascade,
    kind          text not null,
    state         text not null default 'ready',
    attempt       integer not null default 0,
    max_attempts  integer not null,
    run_at        timestamptz not null default now(),
    locked_until  timestamptz,
    locked_by     text,
    last_error    text,
    created_at    timestamptz not null default now(),
    finished_at   timestamptz,
    constraint job_kind_check check (kind in ('push', 'callback')),
    constraint job_state_check check (state in ('ready', 'done', 'failed', 'canceled')),
    constraint job_list_kind_unique unique (list_id, kind)
);

create index job_ready_idx on job (run_at) where state = 'ready';

-- Wake idle workers when work is queued.
create function notify_job_ready() returns trigger as $$
begin
    perform pg_notify('manifold_jobs', new.kind);
    return null;
end;
$$ language plpgsql;

create trigger job_ready_notify
    after insert or update of state, run_at on job
    for each row when (new.state = 'ready')
    execute function notify_job_ready();
