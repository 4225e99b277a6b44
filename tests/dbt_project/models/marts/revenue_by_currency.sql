-- Fails on purpose: stg_orders has no column fx_rate (a SQL error at run time).
select currency, sum(amount * fx_rate) as revenue_eur
from {{ ref('stg_orders') }}
group by 1
