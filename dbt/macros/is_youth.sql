{# Youth = aged youth_min_age–youth_max_age inclusive (registry: 15–29), in completed years,
   on the event date (DOMAIN.md §2). #}
{% macro is_youth(birth_date, event_date) -%}
    ({{ age_in_years(birth_date, event_date) }}
        between {{ registry_parameter('youth_min_age') }} and {{ registry_parameter('youth_max_age') }})
{%- endmacro %}
