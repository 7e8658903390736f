{# Youth = aged 15-29 inclusive, in completed years, on the event date (DOMAIN.md §2). #}
{% macro is_youth(birth_date, event_date) -%}
    ({{ age_in_years(birth_date, event_date) }} between 15 and 29)
{%- endmacro %}
