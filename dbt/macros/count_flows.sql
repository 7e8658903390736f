{# Count the events flagged is_counted per flow and month: the end of every
   int_<source>__flows_monthly model built from person-level records. #}
{% macro count_flows(events) -%}
    select
        flow_code,
        cast(period_month as date) as period_month,
        cast(count(*) as bigint) as flow_amount
    from {{ events }}
    where is_counted and period_month is not null
    group by all
{%- endmacro %}
