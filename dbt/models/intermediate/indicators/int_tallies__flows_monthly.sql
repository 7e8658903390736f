-- Monthly programme tallies, summed over owner units.
with

tallies as (
    select * from {{ ref('stg_tallies__monthly') }}
),

final as (
    select
        'tally.' || lower(measure_code) as flow_code,
        period_month,
        cast(sum(tally_value) as bigint) as flow_amount
    from tallies
    group by all
)

select * from final
