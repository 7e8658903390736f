-- National quarterly values of the county submissions, placed on the quarter's last month.
with

submissions as (
    select * from {{ ref('stg_county__submissions') }}
),

unpivoted as (
    unpivot submissions
    on referred_willing, jointly_served, new_joint_cases, placed, stable_3m,
        sw_posts_approved, sw_posts_filled
    into name measure_name value measure_value
),

final as (
    select
        'cs.' || measure_name as flow_code,
        quarter_end_month as period_month,
        cast(sum(measure_value) as bigint) as flow_amount,
    from unpivoted
    group by all
)

select * from final
