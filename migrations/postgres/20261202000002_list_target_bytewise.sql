-- Targets compare byte for byte (the filter by repository is a range of them). With the column in
-- the "C" collation, ANALYZE gathers its statistics in the order the filter compares in, so the
-- planner sees how few lists a repository holds and reads them through `list_target_idx`; with the
-- database's collation it guessed 2,000 of 200,000 and walked the whole history newest first.
alter table list alter column target type text collate "C";
