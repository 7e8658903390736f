-- National monthly values (sum over counties): stocks at month-end and cases in the month.
with

counts as (
    select * from {{ ref('stg_labour_insurance__county_counts') }}
),

final as (
    select
        'li.' || lower(measure_code) as flow_code,
        period_month,
        cast(sum(count_value) as bigint) as flow_amount
    from counts
    group by all
)

select * from final
