-- raw_customers holds customer 3 twice: the unique test below fails (severity error).
select customer_id, name, country
from {{ ref('raw_customers') }}
