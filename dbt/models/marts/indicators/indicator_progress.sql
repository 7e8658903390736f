-- The Ministry's review table: baseline-year actual, 2024 target, 2024 actual, achieved.
-- Achievement compares the published (rounded) value with the target.
with

targets as (
    select * from {{ source('registry', 'targets') }}
),

headline_values as (
    select * from {{ ref('indicator_values') }}
    where is_headline and month(as_of) = 12 and day(as_of) = 31
),

indicators as (
    select * from {{ source('registry', 'indicators') }}
),

joined as (
    select
        targets.indicator_code,
        targets.measure,
        targets.group_code,
        indicators.name_zh,
        indicators.name_en,
        baseline.display_value as baseline_actual,
        baseline.as_of as baseline_as_of,
        targets.target_year,
        targets.operator,
        targets.target,
        actual.display_value as target_year_actual,
        actual.as_of as target_year_as_of,
        actual.window_start as target_year_window_start,
        -- No figure for the target year is withheld too, with the reason: the data of the
        -- warehouse do not reach its 31 December yet (or its source sent nothing for it).
        coalesce(actual.incomplete_reason, case when actual.as_of is null then
            'no figure for ' || targets.target_year || ' yet: the data do not reach 31 December '
            || targets.target_year end) as target_year_incomplete_reason
    from targets
    inner join indicators using (indicator_code)
    left join headline_values as baseline
        on baseline.indicator_code = targets.indicator_code
        and baseline.measure = targets.measure
        and baseline.group_code = targets.group_code
        and year(baseline.as_of) = {{ var('review_baseline_year') }}
    left join headline_values as actual
        on actual.indicator_code = targets.indicator_code
        and actual.measure = targets.measure
        and actual.group_code = targets.group_code
        and year(actual.as_of) = targets.target_year
),

final as (
    select
        *,
        case operator
            when '>=' then target_year_actual >= target
            when '<=' then target_year_actual <= target
        end as is_achieved
    from joined
)

select * from final
