-- History: `replaced_by` names the list that landed on the same target after this one (a push, an
-- append, a copy, a release, a rollback — a stage never lands on its own), so that a list's
-- answer says whether its target still holds it. Set when the newer list lands (which moves this
-- list's revision on); filled here for the lists that landed before.
alter table list add column replaced_by uuid;

update list set replaced_by = (
    select m.list_id from list m
    where m.target = list.target and m.seq > list.seq and m.status = 'succeeded'
        and m.operation <> 'stage'
    order by m.seq limit 1
)
where status = 'succeeded' and operation <> 'stage';
