-- Every vintage of every county submission, current and superseded, with its values:
-- what each county said, when, and what it later corrected. A vintage refused on
-- revalidation (tsdg revalidate --apply) stays in the history, current for no figure.
with

submissions as (
    select * from {{ source('raw', 'county_submissions') }}
),

landed_files as (
    select * from {{ source('raw', 'landed_files') }}
    where family = 'county_submissions'
        and (state in ('loaded', 'superseded') or (state = 'quarantined' and vintage is not null))
),

final as (
    select
        submissions.county_code,
        submissions.year as report_year,
        submissions.quarter as report_quarter,
        landed_files.vintage,
        landed_files.state = 'loaded' as is_current,
        landed_files.state,
        landed_files.received_at,
        landed_files.loaded_at,
        landed_files.file_name,
        submissions.file_sha256,
        submissions.referred_willing,
        submissions.jointly_served,
        submissions.new_joint_cases,
        submissions.placed,
        submissions.stable_3m,
        submissions.matched_savings_participants,
        submissions.matched_savings_amount,
        submissions.sw_posts_approved,
        submissions.sw_posts_filled,
        submissions.submitted_on,
        coalesce(submissions.no_data, {{ empty_text_list() }}) as no_data
    from submissions
    inner join landed_files
        on landed_files.file_sha256 = submissions.file_sha256
        and landed_files.submitter = submissions.county_code
)

select * from final
