-- The row `/readyz` writes to learn whether the database takes a write now (a full disk or a
-- read-only file refuse it as they would refuse a list). Times are microseconds since the epoch.
create table store_probe (
    probe_id   integer primary key,
    probed_at  integer not null
);
