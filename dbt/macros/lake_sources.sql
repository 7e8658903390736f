{# On a target that does not hold the raw and registry tables itself (Spark), the sources
   are views over the lake the DuckDB build publishes (<warehouse>/lake/, lake.py): one
   folder per family with a partition_key=<quarter> folder per quarter, and one Parquet file
   per small raw or registry table. On DuckDB the sources are the warehouse's own tables. #}
{# (Spark's session runs one statement per call: each is its own query.) #}
{% macro lake_sources() -%}
    {%- if execute and target.type != 'duckdb' -%}
    {%- set lake = var('tsdg_lake', env_var('TSDG_LAKE', '../warehouse/lake')) -%}
    {%- for source in graph.sources.values() -%}
        {%- set group = {'raw': '_raw', 'registry': '_registry'}[source.source_name] -%}
        {%- set folder = lake ~ '/' ~ source.name -%}
        {%- set single = lake ~ '/' ~ group ~ '/' ~ source.name ~ '.parquet' -%}
        {%- if source.source_name == 'registry' or source.name in ('landed_files', 'partition_files') -%}
            {%- set path = single -%}
        {%- else -%}
            {%- set path = folder -%}
        {%- endif -%}
        {%- do run_query('create database if not exists ' ~ source.schema) -%}
        {%- do run_query('create or replace view ' ~ source.schema ~ '.' ~ source.name
                         ~ ' as select * from parquet.`' ~ path ~ '`') -%}
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
