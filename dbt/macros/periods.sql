{# A submission period as landed_files writes it ('2024Q2', '2024-12', '2024') → its first
   and last day. #}
{% macro period_start(period) -%}
    case
        when {{ period }} like '%Q%' then make_date(
            cast(left({{ period }}, 4) as int), cast(right({{ period }}, 1) as int) * 3 - 2, 1)
        when length({{ period }}) = 7 then cast({{ period }} || '-01' as date)
        else make_date(cast({{ period }} as int), 1, 1)
    end
{%- endmacro %}

{% macro period_end(period) -%}
    case
        when {{ period }} like '%Q%' then last_day(make_date(
            cast(left({{ period }}, 4) as int), cast(right({{ period }}, 1) as int) * 3, 1))
        when length({{ period }}) = 7 then last_day(cast({{ period }} || '-01' as date))
        else make_date(cast({{ period }} as int), 12, 31)
    end
{%- endmacro %}
