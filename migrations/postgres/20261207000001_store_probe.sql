-- The row `/readyz` writes to learn whether the database takes a write now (a full disk, a
-- read-only standby or a lost connection refuse it as they would refuse a list).
create table store_probe (
    probe_id   integer primary key,
    probed_at  timestamptz not null
);
