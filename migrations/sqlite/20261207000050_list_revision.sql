-- A list's revision: a number that every update of its row moves on, whatever statement makes it.
-- The service keeps finished lists' answers in memory and asks the database for their revisions
-- before it serves one: an answer kept at another revision is stale. What a list's answer reads
-- besides its row (its entries, its push job's attempts and next run) changes only in a
-- transaction that updates the row too. (The trigger's own update leaves the revision moved, so
-- it does not fire again even where recursive triggers are on.)
alter table list add column revision integer not null default 0;

create trigger list_revision after update on list
    for each row when new.revision = old.revision
begin
    update list set revision = old.revision + 1 where list_id = new.list_id;
end;
