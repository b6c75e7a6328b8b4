-- (as migrations/postgres/20261207000080_list_publish.sql says)
-- Several destinations in one submission (a publish): one list per destination, each in its own
-- target's order, history and watch. `publish_id` names the group's first list, whose push job
-- publishes to every destination in two phases; the others have no job of their own and move
-- with it. `publish_outcome` is what became of the list's destination (published, untouched,
-- put back, stranded) and why, once the publish ended.
alter table list add column publish_id blob;
alter table list add column publish_outcome text;

create index list_publish_idx on list (publish_id) where publish_id is not null;
