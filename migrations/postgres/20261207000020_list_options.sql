-- A submission's options as one JSON document, `options` (`type`, `ignore_missing`, `append`,
-- `trust_platforms`, `follow`, `referrers`, `callback_url`), instead of one column each: a new
-- option no longer needs a migration. What SQL filters on stays a column: `operation`, and
-- `follow`, the switch `follow`/`unfollow` turn (it wins over the document's `follow`, which is
-- what the submission asked). Existing lists are converted.
alter table list add column options jsonb not null default '{}';

update list set options = jsonb_strip_nulls(jsonb_build_object(
    'type', output_type,
    'ignore_missing', ignore_missing,
    'append', operation = 'append',
    'trust_platforms', trust_platforms,
    'follow', follow,
    'referrers', referrers,
    'callback_url', callback_url));

alter table list
    drop column output_type,
    drop column ignore_missing,
    drop column trust_platforms,
    drop column referrers,
    drop column callback_url;
