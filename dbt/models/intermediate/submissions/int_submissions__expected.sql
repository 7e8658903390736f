-- Every submission the warehouse expects: per family, each period from its first to its
-- last received period × each sender the contract names for it (registry.families: every
-- county, every branch, or owner units of registry.units).
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
    select * from {{ source('registry', 'families') }}
),

units as (
    select * from {{ source('registry', 'units') }}
),

received as (
    select family, submitter, period, {{ period_start('period') }} as period_start, state
    from landed_files
    -- A refused file still tells which period its sender meant: the period is expected
    -- (and its figures withheld) even when every file of it was refused.
    where state in ('loaded', 'superseded') or (state = 'quarantined' and period is not null)
),

bounds as (
    select min(period_start) as first_start,
        max(last_day({{ add_months('received.period_start', 'families.months_per_period - 1') }})) as last_end
    from received
    inner join families using (family)
),

spans as (
    select family, min(period_start) as first_start, max(period_start) as last_start
    from received
    group by all
    union all
    -- A family that has sent nothing at all is expected over the periods anyone sent: its
    -- figures are then published withheld, naming what is missing, never left out.
    select
        families.family,
        cast(case families.months_per_period when 1 then date_trunc('month', bounds.first_start)
             when 3 then date_trunc('quarter', bounds.first_start)
             else date_trunc('year', bounds.first_start) end as date),
        cast(case families.months_per_period when 1 then date_trunc('month', bounds.last_end)
             when 3 then date_trunc('quarter', bounds.last_end)
             else date_trunc('year', bounds.last_end) end as date)
    from families
    cross join bounds
    where bounds.first_start is not null
      and families.family not in (select family from received)
),

period_starts as (
    select
        spans.family,
        families.months_per_period,
        {{ month_series('spans.first_start', 'spans.last_start', 'families.months_per_period') }}
            as period_start
    from spans
    inner join families using (family)
),

periods as (
    select
        family,
        case months_per_period
            when 3 then year(period_start) || 'Q' || quarter(period_start)
            when 1 then {{ year_month_text('period_start') }}
            else cast(year(period_start) as string)
        end as period,
        period_start,
        last_day({{ add_months('period_start', 'months_per_period - 1') }}) as period_end
    from period_starts
),

senders as (
    select families.family, counties.county_code as submitter, counties.name_zh as submitter_name
    from families
    cross join counties
    where families.sender_kind = 'county'
    union all
    select families.family, branches.branch_code, branches.name_zh
    from families
    cross join branches
    where families.sender_kind = 'branch'
    union all
    -- A family with one fixed sender (BLI), or every unit registered as sending it.
    select families.family, units.unit_code, units.name_zh
    from families
    inner join units
        on units.unit_code = families.sender_code
        or (families.sender_code is null and units.family = families.family)
    where families.sender_kind = 'unit'
),

final as (
    select periods.family, periods.period, periods.period_start, periods.period_end,
        senders.submitter, senders.submitter_name
    from periods
    inner join senders using (family)
)

select * from final
