-- The as-of dates of each indicator: every month-end (quarter-end for quarterly sources)
-- from its first rule year up to the last month its source reaches — or the last period
-- whose every file was refused, or whose submissions are missing: its figures are
-- published withheld, never left out.
with

indicators as (
    select * from {{ source('registry', 'indicators') }} where alias_of is null
),

measures as (
    select * from {{ source('registry', 'indicator_measures') }}
),

rules as (
    select * from {{ source('registry', 'window_rules') }}
),

flows as (
    select * from {{ ref('int_indicator_flows__monthly') }}
),

-- How far the indicator's source reaches: a count with no events in a month the source
-- covers is zero, not missing.
source_span as (
    select split_part(flow_code, '.', 1) as flow_source, max(period_month) as last_month
    from flows
    group by all
),

refused_span as (
    select family, max({{ month_start('period_end') }}) as last_month
    from {{ ref('submission_status') }}
    where status = 'quarantined'
    group by all
),

-- Submissions of the indicator's family that are expected but missing, up to the last
-- month any source reaches: a family that sent nothing at all still has its figures
-- published (withheld, naming the missing submissions), never left out.
horizon as (
    select max(period_month) as last_month from flows
),

missing_span as (
    select family,
        max({{ month_start('least(period_end, last_day(horizon.last_month))') }}) as last_month
    from {{ ref('submission_status') }}, horizon
    where status = 'missing' and is_expected and period_start <= horizon.last_month
    group by all
),

data_span as (
    select
        measures.indicator_code,
        greatest(max(source_span.last_month), max(refused_span.last_month),
                 max(missing_span.last_month)) as last_month
    from measures
    inner join indicators using (indicator_code)
    left join source_span
        on source_span.flow_source = split_part(measures.numerator_flow, '.', 1)
    left join refused_span on refused_span.family = indicators.source_family
    left join missing_span on missing_span.family = indicators.source_family
    group by all
    having greatest(max(source_span.last_month), max(refused_span.last_month),
                    max(missing_span.last_month)) is not null
),

months as (
    select
        indicators.indicator_code,
        indicators.frequency,
        {{ month_series('make_date(min(rules.first_report_year), 1, 1)', 'data_span.last_month', 1) }}
            as as_of_month
    from indicators
    inner join rules using (indicator_code)
    inner join data_span using (indicator_code)
    group by indicators.indicator_code, indicators.frequency, data_span.last_month
),

final as (
    select
        indicator_code,
        as_of_month,
        last_day(as_of_month) as as_of
    from months
    where frequency = 'month' or month(as_of_month) % 3 = 0
)

select * from final
