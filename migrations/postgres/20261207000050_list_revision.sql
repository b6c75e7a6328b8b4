-- A list's revision: a number that every update of its row moves on, whatever statement (and
-- whichever process, of whichever release) makes it. The service keeps finished lists' answers in
-- memory and asks the database for their revisions before it serves one (one indexed read for
-- every request waiting at the time): an answer kept at another revision is stale. What a list's
-- answer reads besides its row (its entries, its push job's attempts and next run) changes only in
-- a transaction that updates the row too.
alter table list add column revision bigint not null default 0;

create function list_revision() returns trigger language plpgsql as $$
begin
    new.revision := old.revision + 1;
    return new;
end
$$;

create trigger list_revision before update on list
    for each row execute function list_revision();
