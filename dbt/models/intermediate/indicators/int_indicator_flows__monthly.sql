-- Every flow the registry can refer to, one row per flow × month.
with

flows as (
    select * from {{ ref('int_training__flows_monthly') }}
    union all
    select * from {{ ref('int_employment__flows_monthly') }}
    union all
    select * from {{ ref('int_labour_insurance__flows_monthly') }}
    union all
    select * from {{ ref('int_tallies__flows_monthly') }}
    union all
    select * from {{ ref('int_county__flows_monthly') }}
),

final as (
    select flow_code, period_month, flow_amount from flows
)

select * from final
