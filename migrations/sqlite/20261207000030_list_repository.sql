-- The filter by repository and status, and by target and status, read in page order from an index
-- (the filter by repository alone reads `list_repository_idx`, made when the options migration
-- rebuilt the table with the `repository` column).
create index list_repository_status_idx
    on list (repository, status, created_at desc, list_id desc);
create index list_target_status_idx on list (target, status, created_at desc, list_id desc);
