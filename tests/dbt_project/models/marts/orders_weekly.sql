select
    date_trunc('week', ordered_at) as week,
    count(*) as orders,
    sum(amount) as amount
from {{ ref('stg_orders') }}
group by 1
