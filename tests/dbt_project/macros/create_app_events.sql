{# The application's own table behind source('app', 'events'). Two rows have no
   user_id on purpose: the warn-severity not_null test on stg_events warns. #}
{% macro create_app_events() %}
create schema if not exists app;
create table if not exists app.events as
select * from (values
    (1, 101, 'login',    timestamp '2026-11-23 08:00:00'),
    (2, 102, 'view',     timestamp '2026-11-23 09:15:00'),
    (3, null, 'view',    timestamp '2026-11-24 10:30:00'),
    (4, 103, 'purchase', timestamp '2026-11-25 11:45:00'),
    (5, null, 'login',   timestamp '2026-11-26 12:00:00'),
    (6, 101, 'purchase', timestamp '2026-11-27 13:20:00')
) as t(event_id, user_id, event_type, occurred_at)
{% endmacro %}
