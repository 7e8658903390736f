-- Every indicator × measure × group × window × as-of date, with its numerator and
-- denominator. Rates are ratios of sums over the window; formulas come from the registry.
with

windows as (
    select * from {{ ref('int_indicator_windows') }}
),

measures as (
    select * from {{ source('registry', 'indicator_measures') }}
),

indicators as (
    select * from {{ source('registry', 'indicators') }}
),

flows as (
    select * from {{ ref('int_indicator_flows__monthly') }}
),

submission_status as (
    select * from {{ ref('submission_status') }}
),

families as (
    select * from {{ source('registry', 'families') }}
),

-- Submissions a figure cannot do without: missing, quarantined, or sent with "no data"
-- placeholders. Flow codes start with their family's flow prefix (registry.families).
gaps as (
    select
        families.flow_prefix as flow_source,
        period_start,
        period_end,
        family || ' ' || period || ' ' || coalesce(submitter_name, submitter, '?') || ': '
            || case when status = 'submitted' then 'no data for ' || no_data_columns else status end
            as gap
    from submission_status
    inner join families using (family)
    where is_expected and period_start is not null
        and (status in ('missing', 'quarantined') or no_data_columns is not null)
),

window_measures as (
    select
        windows.*,
        measures.measure,
        measures.group_code,
        measures.formula,
        measures.numerator_flow,
        measures.denominator_flow,
        measures.display_precision,
        measures.unit,
        indicators.base_value,
        indicators.opening_balance,
        -- Flows are summed from the window start; a running total from its opening date.
        cast(coalesce(
            windows.window_start,
            cast(indicators.opening_date as date) + interval 1 day
        ) as date) as sum_from,
        {{ month_start('windows.as_of') }} as as_of_month
    from windows
    inner join measures using (indicator_code)
    inner join indicators using (indicator_code)
),

completeness as (
    select
        wm.indicator_code, wm.measure, wm.group_code, wm.as_of, wm.window_start,
        count(distinct gaps.gap) as gap_count,
        {{ sorted_distinct_list('gaps.gap') }} as gap_list
    from window_measures as wm
    inner join gaps
        on gaps.flow_source in (split_part(wm.numerator_flow, '.', 1), split_part(wm.denominator_flow, '.', 1))
        and gaps.period_start <= wm.as_of
        and gaps.period_end >= coalesce(wm.sum_from, wm.as_of_month)
    group by all
),

numerator_sums as (
    select
        wm.indicator_code, wm.measure, wm.group_code, wm.as_of, wm.window_start,
        sum(flows.flow_amount) as numerator_sum,
        count(flows.period_month) as numerator_months
    from window_measures as wm
    left join flows
        on flows.flow_code = wm.numerator_flow
        and flows.period_month between wm.sum_from and wm.as_of_month
    where wm.formula not in ('stock', 'stock_ratio')
    group by all
),

denominator_sums as (
    select
        wm.indicator_code, wm.measure, wm.group_code, wm.as_of, wm.window_start,
        sum(flows.flow_amount) as denominator_sum,
        count(flows.period_month) as denominator_months
    from window_measures as wm
    left join flows
        on flows.flow_code = wm.denominator_flow
        and flows.period_month between wm.sum_from and wm.as_of_month
    where wm.formula in ('ratio', 'per_1000')
    group by all
),

-- A stock is the last reported value at or before the as-of date.
stocks as (
    select
        wm.indicator_code, wm.measure, wm.group_code, wm.as_of, wm.window_start,
        wm.denominator_flow,
        max_by(numerators.flow_amount, numerators.period_month) as numerator_stock,
        max(numerators.period_month) as stock_month
    from window_measures as wm
    inner join flows as numerators
        on numerators.flow_code = wm.numerator_flow
        and numerators.period_month <= wm.as_of_month
    where wm.formula in ('stock', 'stock_ratio')
    group by all
),

stock_denominators as (
    select stocks.*, denominators.flow_amount as denominator_stock
    from stocks
    left join flows as denominators
        on denominators.flow_code = stocks.denominator_flow
        and denominators.period_month = stocks.stock_month
),

computed as (
    select
        wm.indicator_code,
        wm.measure,
        wm.group_code,
        case when wm.window_kind = 'running' then null else wm.window_start end as window_start,
        wm.as_of,
        wm.formula,
        case wm.formula
            when 'count' then coalesce(n.numerator_sum, 0)
            when 'ratio' then n.numerator_sum / nullif(d.denominator_sum, 0)
            when 'per_1000' then
                n.numerator_sum / nullif(d.denominator_sum / nullif(d.denominator_months, 0), 0) * 1000
            when 'over_base' then coalesce(n.numerator_sum, 0) / wm.base_value
            when 'running' then wm.opening_balance + coalesce(n.numerator_sum, 0)
            when 'stock' then s.numerator_stock
            when 'stock_ratio' then s.numerator_stock / nullif(s.denominator_stock, 0)
        end as indicator_value,
        cast(case when wm.formula in ('stock', 'stock_ratio') then s.numerator_stock
             else coalesce(n.numerator_sum, 0) end as double) as numerator,
        case wm.formula
            when 'ratio' then cast(d.denominator_sum as double)
            when 'per_1000' then d.denominator_sum / nullif(d.denominator_months, 0)
            when 'over_base' then cast(wm.base_value as double)
            when 'stock_ratio' then cast(s.denominator_stock as double)
        end as denominator,
        wm.opening_balance,
        coalesce(n.numerator_months, case when s.numerator_stock is not null then 1 end)
            as months_with_data,
        s.stock_month,
        wm.unit,
        wm.display_precision,
        wm.window_kind,
        wm.is_headline,
        wm.is_year_to_date,
        c.gap_count is null as is_complete,
        case when c.gap_count is not null then
            c.gap_count || ' submission(s) missing or incomplete: '
            || {{ join_list(list_head('c.gap_list', 3), '; ') }}
            || case when c.gap_count > 3 then '; …' else '' end
        end as incomplete_reason
    from window_measures as wm
    left join numerator_sums as n
        on n.indicator_code = wm.indicator_code and n.measure = wm.measure
        and n.group_code = wm.group_code and n.as_of = wm.as_of
        and n.window_start is not distinct from wm.window_start
    left join denominator_sums as d
        on d.indicator_code = wm.indicator_code and d.measure = wm.measure
        and d.group_code = wm.group_code and d.as_of = wm.as_of
        and d.window_start is not distinct from wm.window_start
    left join stock_denominators as s
        on s.indicator_code = wm.indicator_code and s.measure = wm.measure
        and s.group_code = wm.group_code and s.as_of = wm.as_of
        and s.window_start is not distinct from wm.window_start
    left join completeness as c
        on c.indicator_code = wm.indicator_code and c.measure = wm.measure
        and c.group_code = wm.group_code and c.as_of = wm.as_of
        and c.window_start is not distinct from wm.window_start
),

-- An alias (10.2.2) is the same computation as its original, under its own code.
with_aliases as (
    select * from computed
    union all
    select aliases.indicator_code, computed.* except (indicator_code)
    from computed
    inner join indicators as aliases on aliases.alias_of = computed.indicator_code
),

final as (
    select
        with_aliases.indicator_code,
        with_aliases.measure,
        with_aliases.group_code,
        with_aliases.window_start,
        with_aliases.as_of,
        -- A figure that needs a missing or refused submission is withheld (value empty),
        -- never computed from partial data; the reason says which submissions.
        case when with_aliases.is_complete then with_aliases.indicator_value end as indicator_value,
        case when with_aliases.is_complete then {{ round_to(
            'with_aliases.indicator_value', 'cast(with_aliases.display_precision as integer)') }}
        end as display_value,
        with_aliases.is_complete,
        with_aliases.incomplete_reason,
        with_aliases.numerator,
        with_aliases.denominator,
        with_aliases.opening_balance,
        with_aliases.formula,
        with_aliases.unit,
        with_aliases.display_precision,
        with_aliases.window_kind,
        with_aliases.is_headline,
        with_aliases.is_year_to_date,
        with_aliases.months_with_data,
        with_aliases.stock_month,
        indicators.name_zh,
        indicators.name_en,
        indicators.alias_of
    from with_aliases
    inner join indicators using (indicator_code)
)

select * from final
