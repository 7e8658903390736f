-- For each indicator and as-of date, the headline window (from the registry's rules) and
-- the calendar year-to-date window; the two collapse into one row when they coincide.
with

indicators as (
    select * from {{ source('registry', 'indicators') }}
),

rules as (
    select * from {{ source('registry', 'window_rules') }}
),

as_of_dates as (
    select * from {{ ref('int_indicator_as_of_dates') }}
),

headline as (
    select
        as_of_dates.indicator_code,
        as_of_dates.as_of,
        indicators.window_kind,
        case rules.start_kind
            when 'fixed' then make_date(rules.window_start_year, 1, 1)
            when 'calendar_year' then make_date(year(as_of_dates.as_of), 1, 1)
        end as window_start
    from as_of_dates
    inner join indicators using (indicator_code)
    inner join rules
        on rules.indicator_code = as_of_dates.indicator_code
        and year(as_of_dates.as_of) between rules.first_report_year and rules.last_report_year
),

windows as (
    select indicator_code, as_of, window_kind, window_start, true as is_headline,
        false as is_year_to_date
    from headline
    union all
    -- Flows also get the calendar year-to-date window; stocks and running totals do not.
    select indicator_code, as_of, window_kind, make_date(year(as_of), 1, 1), false, true
    from headline
    where window_kind in ('cumulative', 'report_year', 'calendar_year')
),

final as (
    select
        indicator_code,
        as_of,
        window_start,
        any_value(window_kind) as window_kind,
        bool_or(is_headline) as is_headline,
        bool_or(is_year_to_date) as is_year_to_date
    from windows
    group by indicator_code, as_of, window_start
)

select * from final
