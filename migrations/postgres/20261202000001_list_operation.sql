-- What a submission does to its target: `push`, `append`, `remove` or `copy`. The spec column
-- holds that operation's request as JSON (a list spec for push and append). It replaces the
-- `append` flag. `trust_platforms`: the spec's platforms are taken without checking them against
-- the images' configs.
alter table list add column operation text not null default 'push';
update list set operation = 'append' where append;
alter table list drop column append;
alter table list add column trust_platforms boolean not null default false;
