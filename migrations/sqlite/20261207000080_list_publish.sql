-- (as migrations/postgres/20261207000080_list_publish.sql says)
-- Several destinations in one submission (a publish): one list per destination, each in its own
-- target's order, history and watch. `publish_id` names the group's first list, whose push job
-- publishes to every destination in two phases; the others have no job of their own and move
-- with it. `publish_outcome` is what became of the list's destination (published, untouched,
-- put back, stranded) and why, once the publish ended.
alter table list add column publish_id blob;
alter table list add column publish_outcome text;

-- The list whose push job moves this one: the publish's first list, else the list itself. The
-- queue's order (a job waits for the older lists of every target it moves), a list's read of its
-- job's attempts and of the other lists of its publish join on it; a column of its own keeps
-- those joins to one index lookup each (an `or` or a `coalesce` in them made the planner scan
-- every queued list for every candidate).
alter table list add column owner blob generated always as (coalesce(publish_id, list_id)) virtual;

create index list_owner_idx on list (owner);
