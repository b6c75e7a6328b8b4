-- Who submitted a list when a CI job's OIDC ID token did (as
-- migrations/postgres/20261207000060_list_identity.sql says): one JSON document, or null.
alter table list add column identity text;
