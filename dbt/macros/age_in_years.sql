{# Age in completed years on an event date: a birthday later in the year has not happened yet. #}
{% macro age_in_years(birth_date, event_date) -%}
    (year({{ event_date }}) - year({{ birth_date }})
     - case when month({{ event_date }}) * 100 + day({{ event_date }})
                 < month({{ birth_date }}) * 100 + day({{ birth_date }}) then 1 else 0 end)
{%- endmacro %}
