-- One row per county × quarter: the current (newest) submission.
with

latest as (
    {{ latest_version(source('raw', 'county_submissions'), ['county_code', 'year', 'quarter'], 'county_submissions') }}
),

final as (
    select
        county_code,
        year as report_year,
        quarter as report_quarter,
        make_date(year, quarter * 3, 1) as quarter_end_month,
        referred_willing,
        jointly_served,
        new_joint_cases,
        placed,
        stable_3m,
        matched_savings_participants,
        matched_savings_amount,
        sw_posts_approved,
        sw_posts_filled,
        submitted_on,
        coalesce(no_data, {{ empty_text_list() }}) as no_data,
        source_file,
        file_sha256
    from latest
)

select * from final
