-- National quarterly values of the county submissions, placed on the quarter's last month.
with

submissions as (
    select * from {{ ref('stg_county__submissions') }}
),

unpivoted as (
    select quarter_end_month, measure_name, measure_value
    from submissions
    unpivot (measure_value for measure_name in (
        referred_willing, jointly_served, new_joint_cases, placed, stable_3m,
        sw_posts_approved, sw_posts_filled
    ))
),

final as (
    select
        'cs.' || measure_name as flow_code,
        quarter_end_month as period_month,
        cast(sum(measure_value) as bigint) as flow_amount
    from unpivoted
    group by all
)

select * from final
