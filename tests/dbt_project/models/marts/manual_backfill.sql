-- Tagged manual: the default selector (selectors.yml) leaves it out of every
-- scheduled command, so it never appears in run_results.
{{ config(tags=['manual']) }}
select event_type, min(occurred_at) as first_seen
from {{ source('app', 'events') }}
group by 1
