{# Keep the latest version of each record: later quarter's file first, then later row. #}
{% macro latest_version(relation, key_columns) -%}
    select * exclude (version_rank)
    from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by partition_key desc, source_file desc, source_row desc
            ) as version_rank
        from {{ relation }}
    )
    where version_rank = 1
{%- endmacro %}
