-- A target's timeline between its lists (as migrations/postgres/20261207000090_drift_event.sql
-- says): each change of what the watch found of the list the target holds, kept as an event.
-- Times are microseconds since the epoch.
create table drift_event (
    event_id  integer primary key autoincrement,
    list_id   blob not null references list (list_id) on delete cascade,
    target    text not null,
    at        integer not null,
    status    text not null,
    reasons   text not null default '[]',
    observed  text,
    constraint drift_event_status_check check (status in ('in_sync', 'drifted'))
);

create index drift_event_target_idx on drift_event (target, at desc, event_id desc);
create index drift_event_list_idx on drift_event (list_id, event_id desc);
