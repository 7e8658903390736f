-- The county submissions' programme indicators by county and quarter.
with

submissions as (
    select * from {{ ref('stg_county__submissions') }}
),

counties as (
    select * from {{ source('registry', 'counties') }}
),

final as (
    select
        submissions.county_code,
        counties.name_zh as county_name_zh,
        counties.name_en as county_name_en,
        submissions.report_year,
        submissions.report_quarter,
        last_day(submissions.quarter_end_month) as quarter_end,
        submissions.referred_willing,
        submissions.jointly_served,
        submissions.jointly_served / nullif(submissions.referred_willing, 0) as coverage_rate,
        submissions.new_joint_cases,
        submissions.placed,
        submissions.stable_3m,
        submissions.stable_3m / nullif(submissions.placed, 0) as stable_employment_rate,
        submissions.matched_savings_participants,
        submissions.matched_savings_amount,
        submissions.sw_posts_approved,
        submissions.sw_posts_filled,
        submissions.sw_posts_filled / nullif(submissions.sw_posts_approved, 0) as staffing_rate,
        submissions.submitted_on,
        -- the file name only: where the landing area sat on the server is not a figure
        {{ file_name_of('submissions.source_file') }} as source_file
    from submissions
    left join counties using (county_code)
)

select * from final
