{# The files whose rows count: the current vintage of every submission of `family`, or,
   with --vars '{vintage_as_of: "YYYY-MM-DD HH:MM:SS[.ffffff]"}', the newest vintage the warehouse
   had taken in by that time (figures as of an earlier vintage). #}
{% macro current_files(family) -%}
    {%- set as_of = var('vintage_as_of', none) -%}
    {%- if as_of -%}
    select file_sha256 from (
        select
            file_sha256,
            row_number() over (partition by submitter, period order by vintage desc) as newest
        from {{ source('raw', 'landed_files') }}
        where family = '{{ family }}'
            and state in ('loaded', 'superseded')
            and loaded_at <= cast('{{ as_of }}' as timestamp)
    )
    where newest = 1
    {%- else -%}
    select file_sha256 from {{ source('raw', 'landed_files') }}
    where family = '{{ family }}' and state = 'loaded'
    {%- endif -%}
{%- endmacro %}

{# Keep the latest version of each record among the current files of `family`: later
   quarter's file first, then later row. `relation` must be the family's raw table. #}
{% macro latest_version(relation, key_columns, family) -%}
    {#- The model reads only `family` (its raw table and, through current_files, its
        lifecycle records): a build whose family did not change keeps it (model_reuse.py). -#}
    {{- config(meta={'tsdg_family': family}) -}}
    select * except (version_rank)
    from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by partition_key desc, source_file desc, source_row desc
            ) as version_rank
        from {{ relation }}
        where file_sha256 in ({{ current_files(family) }})
    )
    where version_rank = 1
{%- endmacro %}
