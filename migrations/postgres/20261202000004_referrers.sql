-- `referrers`: a push brings what refers to its children (cosign signatures, attestations, SBOMs,
-- OCI referrers) into the target with them. Off for a list, on by default for a copy.
alter table list add column referrers boolean not null default false;
