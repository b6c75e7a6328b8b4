-- Who submitted a list when a CI job's OIDC ID token did: `{issuer, subject, repository, ref,
-- run_id, rule}` as one JSON document (null for lists submitted with an API token, or to a
-- service without tokens). A follow-up list keeps the identity of the list it re-pushes.
alter table list add column identity jsonb;
