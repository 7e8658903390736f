-- Who sent what: one row per expected submission (family × period × sender), plus any
-- quarantined file outside that grid. Missing (nothing received) is not the same as a
-- zero report (received, every count 0); late is past the deadline after period end.
with

expected as (
    select * from {{ ref('int_submissions__expected') }}
),

landed_files as (
    select * from {{ source('raw', 'landed_files') }}
),

county_submissions as (
    select * from {{ ref('stg_county__submissions') }}
),

labour_insurance as (
    select * from {{ ref('stg_labour_insurance__county_counts') }}
),

tallies as (
    select * from {{ ref('stg_tallies__monthly') }}
),

current_files as (
    select * from landed_files where state = 'loaded'
),

history as (
    select
        family, submitter, period,
        count(*) filter (where state in ('loaded', 'superseded')) as vintages,
        count(*) filter (where state = 'quarantined') as quarantined_files,
        max_by(file_name, loaded_at) filter (where state = 'quarantined') as last_quarantined_file,
        max_by(state_reason, loaded_at) filter (where state = 'quarantined') as last_quarantine_reason,
        max_by(quarantine_report, loaded_at) filter (where state = 'quarantined') as last_quarantine_report
    from landed_files
    group by all
),

-- Quarantined files outside the grid (a period no one else has sent yet, a bad file name).
unexpected as (
    select distinct
        landed_files.family, landed_files.period,
        {{ period_start('landed_files.period') }} as period_start,
        {{ period_end('landed_files.period') }} as period_end,
        landed_files.submitter, landed_files.submitter as submitter_name
    from landed_files
    anti join expected
        on expected.family = landed_files.family
        and expected.submitter is not distinct from landed_files.submitter
        and expected.period is not distinct from landed_files.period
    where landed_files.state = 'quarantined'
),

-- Placeholders (-, …) in a current submission: received, but some values are "no data".
no_data as (
    select 'county_submissions' as family, county_code as submitter,
        report_year || 'Q' || report_quarter as period,
        {{ join_list('no_data', ', ') }} as no_data_columns
    from county_submissions
    where cardinality(no_data) > 0
    union all
    select 'labour_insurance', 'BLI', {{ year_month_text('period_month') }},
        {{ sorted_distinct_join("measure_code || ' ' || county_code", ', ') }}
    from labour_insurance
    where value_note is not null
    group by all
    union all
    select 'programme_tallies', owner_unit, cast(year(period_month) as string),
        {{ sorted_distinct_join("measure_code || ' ' || " ~ year_month_text('period_month'), ', ') }}
    from tallies
    where value_note is not null
    group by all
),

zero_reports as (
    select county_code as submitter, report_year || 'Q' || report_quarter as period,
        coalesce(referred_willing, 0) + coalesce(jointly_served, 0) + coalesce(new_joint_cases, 0)
        + coalesce(placed, 0) + coalesce(stable_3m, 0) + coalesce(matched_savings_participants, 0)
        + coalesce(matched_savings_amount, 0) + coalesce(sw_posts_approved, 0)
        + coalesce(sw_posts_filled, 0) = 0 and cardinality(no_data) = 0 as reported_zero
    from county_submissions
),

-- Only the contract's grid can make a figure incomplete: a file from a sender the registry
-- does not know (tally_XYZ_113.csv, 99999_113Q1.csv) is shown, never waited for.
all_expected as (
    select *, true as is_expected from expected
    union all
    select *, false as is_expected from unexpected
),

final as (
    select
        e.family,
        e.period,
        e.period_start,
        e.period_end,
        e.submitter,
        e.submitter_name,
        e.is_expected,
        case
            when c.file_name is not null then 'submitted'
            when h.quarantined_files > 0 then 'quarantined'
            else 'missing'
        end as status,
        e.period_end + {{ registry_parameter('submission_deadline_days') }} as deadline,
        case
            when c.file_name is not null then cast(c.received_at as date) > e.period_end + {{ registry_parameter('submission_deadline_days') }}
            else current_date > e.period_end + {{ registry_parameter('submission_deadline_days') }}
        end as is_late,
        z.reported_zero,
        n.no_data_columns,
        c.file_name as current_file,
        c.vintage as current_vintage,
        c.received_at,
        c.loaded_at,
        coalesce(h.vintages, 0) as vintages,
        coalesce(h.quarantined_files, 0) as quarantined_files,
        h.last_quarantined_file,
        h.last_quarantine_reason,
        h.last_quarantine_report
    from all_expected as e
    left join current_files as c
        on c.family = e.family and c.submitter = e.submitter and c.period = e.period
    left join history as h
        on h.family = e.family and h.submitter is not distinct from e.submitter
        and h.period is not distinct from e.period
    left join no_data as n
        on n.family = e.family and n.submitter = e.submitter and n.period = e.period
    left join zero_reports as z
        on e.family = 'county_submissions' and z.submitter = e.submitter and z.period = e.period
)

select * from final
