{# Where DuckDB and Spark SQL differ, one macro per construct, dispatched on the adapter
   (default__ = DuckDB, the warehouse's engine; spark__ = the distributed target). Models
   call these and are written once for both engines. #}

{# A date plus n months, as a date. #}
{% macro add_months(date_expr, months) -%}
    {{ return(adapter.dispatch('add_months')(date_expr, months)) }}
{%- endmacro %}
{% macro default__add_months(date_expr, months) -%}
    cast(({{ date_expr }}) + to_months({{ months }}) as date)
{%- endmacro %}
{% macro spark__add_months(date_expr, months) -%}
    add_months({{ date_expr }}, {{ months }})
{%- endmacro %}

{# One row per date from start to stop, every `months` months (a set-returning select item). #}
{% macro month_series(start, stop, months) -%}
    {{ return(adapter.dispatch('month_series')(start, stop, months)) }}
{%- endmacro %}
{% macro default__month_series(start, stop, months) -%}
    cast(unnest(generate_series({{ start }}, {{ stop }}, to_months({{ months }}))) as date)
{%- endmacro %}
{% macro spark__month_series(start, stop, months) -%}
    explode(sequence({{ start }}, {{ stop }}, make_interval(0, {{ months }})))
{%- endmacro %}

{# 'YYYY-MM' of a date. #}
{% macro year_month_text(date_expr) -%}
    {{ return(adapter.dispatch('year_month_text')(date_expr)) }}
{%- endmacro %}
{% macro default__year_month_text(date_expr) -%}
    strftime({{ date_expr }}, '%Y-%m')
{%- endmacro %}
{% macro spark__year_month_text(date_expr) -%}
    date_format({{ date_expr }}, 'yyyy-MM')
{%- endmacro %}

{# The first day of the date's month, as a date (date_trunc gives a timestamp on both). #}
{% macro month_start(date_expr) -%}
    cast(date_trunc('month', {{ date_expr }}) as date)
{%- endmacro %}

{# An empty list of text (for coalesce with a list column). #}
{% macro empty_text_list() -%}
    {{ return(adapter.dispatch('empty_text_list')()) }}
{%- endmacro %}
{% macro default__empty_text_list() -%}
    cast([] as varchar[])
{%- endmacro %}
{% macro spark__empty_text_list() -%}
    cast(array() as array<string>)
{%- endmacro %}

{# Whether a list shares any element with a literal list of texts. #}
{% macro list_has_any_of(list_expr, values) -%}
    {{ return(adapter.dispatch('list_has_any_of')(list_expr, values)) }}
{%- endmacro %}
{% macro default__list_has_any_of(list_expr, values) -%}
    list_has_any({{ list_expr }}, [{% for v in values %}'{{ v }}'{{ ', ' if not loop.last }}{% endfor %}])
{%- endmacro %}
{% macro spark__list_has_any_of(list_expr, values) -%}
    arrays_overlap({{ list_expr }}, array({% for v in values %}'{{ v }}'{{ ', ' if not loop.last }}{% endfor %}))
{%- endmacro %}

{# A list's elements joined by a separator. #}
{% macro join_list(list_expr, separator) -%}
    {{ return(adapter.dispatch('join_list')(list_expr, separator)) }}
{%- endmacro %}
{% macro default__join_list(list_expr, separator) -%}
    array_to_string({{ list_expr }}, '{{ separator }}')
{%- endmacro %}
{% macro spark__join_list(list_expr, separator) -%}
    array_join({{ list_expr }}, '{{ separator }}')
{%- endmacro %}

{# The distinct values of an expression over a group, sorted and joined (an aggregate). #}
{% macro sorted_distinct_join(expr, separator) -%}
    {{ return(adapter.dispatch('sorted_distinct_join')(expr, separator)) }}
{%- endmacro %}
{% macro default__sorted_distinct_join(expr, separator) -%}
    string_agg(distinct {{ expr }}, '{{ separator }}' order by {{ expr }})
{%- endmacro %}
{% macro spark__sorted_distinct_join(expr, separator) -%}
    array_join(array_sort(collect_set({{ expr }})), '{{ separator }}')
{%- endmacro %}

{# The distinct values of an expression over a group, as a sorted list (an aggregate). #}
{% macro sorted_distinct_list(expr) -%}
    {{ return(adapter.dispatch('sorted_distinct_list')(expr)) }}
{%- endmacro %}
{% macro default__sorted_distinct_list(expr) -%}
    list(distinct {{ expr }} order by {{ expr }})
{%- endmacro %}
{% macro spark__sorted_distinct_list(expr) -%}
    array_sort(collect_set({{ expr }}))
{%- endmacro %}

{# The first n elements of a list. #}
{% macro list_head(list_expr, n) -%}
    {{ return(adapter.dispatch('list_head')(list_expr, n)) }}
{%- endmacro %}
{% macro default__list_head(list_expr, n) -%}
    list_slice({{ list_expr }}, 1, {{ n }})
{%- endmacro %}
{% macro spark__list_head(list_expr, n) -%}
    slice({{ list_expr }}, 1, {{ n }})
{%- endmacro %}

{# The last part of a path: the file's name. #}
{% macro file_name_of(path_expr) -%}
    {{ return(adapter.dispatch('file_name_of')(path_expr)) }}
{%- endmacro %}
{% macro default__file_name_of(path_expr) -%}
    parse_filename({{ path_expr }})
{%- endmacro %}
{% macro spark__file_name_of(path_expr) -%}
    regexp_extract({{ path_expr }}, '[^/]*$', 0)
{%- endmacro %}

{# A double rounded to a number of decimal places given by a column. Spark's round takes
   only a constant scale; DuckDB rounds a double as round(x * 10^p) / 10^p, so Spark does
   the same arithmetic and gets the same digits. #}
{% macro round_to(value, places) -%}
    {{ return(adapter.dispatch('round_to')(value, places)) }}
{%- endmacro %}
{% macro default__round_to(value, places) -%}
    round({{ value }}, {{ places }})
{%- endmacro %}
{% macro spark__round_to(value, places) -%}
    (round({{ value }} * power(10, {{ places }})) / power(10, {{ places }}))
{%- endmacro %}
