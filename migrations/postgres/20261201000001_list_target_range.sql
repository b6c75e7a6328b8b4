-- The target filter reads a range of targets (`repo:` up to `repo;`), which only byte order keeps
-- together: index the targets in the "C" collation, as the filter compares them.
drop index if exists list_target_idx;
create index list_target_idx on list (target collate "C", created_at desc, list_id desc);
