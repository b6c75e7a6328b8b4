-- Staged releases: a release expects platforms, which several submissions (CI jobs) bring; each
-- submission's list (operation `stage`) makes its children present in the target repository and
-- waits, `staged`, until the release has every platform; then one list (operation `release`)
-- PUTs the tag, once. `state`: open (platforms arriving), releasing (its list queued), released,
-- failed (its deadline passed, or its list failed). A release's key names one cycle at a time: a
-- new submission after a failed cycle opens another.
create table staged_release (
    release_id    uuid primary key,
    release_key   text not null,
    target        text not null,
    expect        jsonb not null,
    on_deadline   text not null default 'fail',
    state         text not null default 'open',
    deadline_at   timestamptz not null,
    list_id       uuid,
    error_message text,
    created_at    timestamptz not null default now(),
    finished_at   timestamptz,
    constraint staged_release_state_check
        check (state in ('open', 'releasing', 'released', 'failed')),
    constraint staged_release_on_deadline_check check (on_deadline in ('fail', 'push'))
);

create index staged_release_key_idx on staged_release (target, release_key, created_at desc);
create index staged_release_due_idx on staged_release (deadline_at) where state = 'open';

alter table list add column release_id uuid;
create index list_release_idx on list (release_id, seq) where release_id is not null;

alter table list drop constraint list_status_check;
alter table list add constraint list_status_check
    check (status in ('queued', 'running', 'staged', 'succeeded', 'failed', 'canceled', 'superseded'));
