-- Living lists: submissions to one target run one at a time, in order, and the newest wins.
--
-- `seq`: the order of submissions (an explicit retry takes a new one); within a target, a higher
-- seq is newer. `superseded_by`: the newer list that landed first, when this one was not pushed.
-- `follow`: re-push from the same spec when a source moves; `follows`: the list this one
-- re-pushes; `followed_by`: the list that took the following over.
-- `drift_*`: what the watch last found (`in_sync`, `drifted`, `unknown`), when, why; a list is
-- watched while `drift_next_at` is set, which only the list that landed last on a target is;
-- `drift_alerted`: its `list.drifted` callback went out, and not again until it is back in sync.
-- `sources`: the digest each source named by tag resolved to when the list was pushed.
-- `callback_event`: what the pending callback reports (`list.finished`, `list.drifted`).
create sequence list_seq;

alter table list
    add column seq bigint,
    add column superseded_by uuid,
    add column follow boolean not null default false,
    add column follows uuid,
    add column followed_by uuid,
    add column drift_status text,
    add column drift_checked_at timestamptz,
    add column drift_reasons jsonb,
    add column drift_error text,
    add column drift_next_at timestamptz,
    add column drift_alerted boolean not null default false,
    add column sources jsonb,
    add column callback_event text;

update list set seq = numbered.n
from (select list_id, row_number() over (order by created_at, list_id) as n from list) numbered
where numbered.list_id = list.list_id;
select setval('list_seq', coalesce((select max(seq) from list), 0) + 1, false);

alter table list
    alter column seq set default nextval('list_seq'),
    alter column seq set not null,
    drop constraint list_status_check,
    add constraint list_status_check
        check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled', 'superseded')),
    add constraint list_drift_status_check
        check (drift_status in ('in_sync', 'drifted', 'unknown'));
alter sequence list_seq owned by list.seq;

-- The list of each target that landed last is watched, from now on.
update list set drift_next_at = now()
where list_id in (
    select distinct on (target) list_id from list where status = 'succeeded'
    order by target, finished_at desc nulls last, seq desc
);

create unique index list_seq_idx on list (seq);
create index list_target_seq_idx on list (target, seq);
create index list_active_target_idx on list (target, seq) where status in ('queued', 'running');
create index list_watch_idx on list (drift_next_at) where drift_next_at is not null;
