-- Every submission the warehouse expects: per family, each period from its first to its
-- last received period × each sender (22 counties, 5 branches, BLI, the tally owner units).
with

landed_files as (
    select * from {{ source('raw', 'landed_files') }}
),

counties as (
    select * from {{ source('registry', 'counties') }}
),

branches as (
    select * from {{ source('registry', 'branches') }}
),

families as (
    select * from (values
        ('county_submissions', 3),
        ('training_rosters', 3),
        ('employment_services', 3),
        ('labour_insurance', 1),
        ('programme_tallies', 12)
    ) as t (family, months_per_period)
),

received as (
    select family, submitter, period, {{ period_start('period') }} as period_start, state,
    from landed_files
    -- A refused file still tells which period its sender meant: the period is expected
    -- (and its figures withheld) even when every file of it was refused.
    where state in ('loaded', 'superseded') or (state = 'quarantined' and period is not null)
),

spans as (
    select family, min(period_start) as first_start, max(period_start) as last_start,
    from received
    group by all
),

period_starts as (
    select
        spans.family,
        families.months_per_period,
        cast(unnest(generate_series(
            spans.first_start, spans.last_start, to_months(families.months_per_period)
        )) as date) as period_start,
    from spans
    inner join families using (family)
),

periods as (
    select
        family,
        case months_per_period
            when 3 then year(period_start) || 'Q' || quarter(period_start)
            when 1 then strftime(period_start, '%Y-%m')
            else cast(year(period_start) as varchar)
        end as period,
        period_start,
        last_day(period_start + to_months(months_per_period - 1)) as period_end,
    from period_starts
),

senders as (
    select 'county_submissions' as family, county_code as submitter, name_zh as submitter_name,
    from counties
    union all
    select person_level.family, branches.branch_code, branches.name_zh,
    from branches
    cross join (values ('training_rosters'), ('employment_services')) as person_level (family)
    union all
    select 'labour_insurance', 'BLI', '勞動部勞工保險局'
    union all
    -- Owner units that have sent a good file (a refused file may name a unit wrongly).
    select distinct family, submitter, submitter from received
    where family = 'programme_tallies' and state in ('loaded', 'superseded')
),

final as (
    select periods.family, periods.period, periods.period_start, periods.period_end,
        senders.submitter, senders.submitter_name,
    from periods
    inner join senders using (family)
)

select * from final
