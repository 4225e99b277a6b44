-- Two events have no user_id: the not_null test (severity warn) warns, nothing blocks.
select event_id, user_id, event_type, occurred_at
from {{ source('app', 'events') }}
