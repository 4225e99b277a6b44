select cast(occurred_at as date) as day, event_type, count(*) as events
from {{ ref('stg_events') }}
group by 1, 2
