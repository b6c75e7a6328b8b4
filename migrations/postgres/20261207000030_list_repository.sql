-- The repository a list's target names (`registry/repo`: the target without its `:tag`), kept by
-- the database, so that the filter by repository reads the repository's newest lists straight from
-- an index, in page order, instead of every list of the repository and a sort (a history of 15,000
-- lists in one repository answered in 771 ms). SQLite has had the column since its options
-- migration rebuilt the table.
alter table list add column repository text collate "C"
    generated always as (regexp_replace(target, ':[^:/]*$', '')) stored;

create index list_repository_idx on list (repository, created_at desc, list_id desc);
create index list_repository_status_idx
    on list (repository, status, created_at desc, list_id desc);
create index list_target_status_idx on list (target, status, created_at desc, list_id desc);
