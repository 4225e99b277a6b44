select order_id, amount, dbt_valid_from, dbt_valid_to
from {{ ref('orders_snapshot') }}
