-- A list submitted to be merged into what its target holds (`append`), rather than to replace it.
alter table list add column append integer not null default 0;
