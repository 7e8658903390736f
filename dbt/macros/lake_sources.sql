{# On a target that does not hold the raw and registry tables itself (Spark), the sources
   are views over the lake the DuckDB build publishes (<warehouse>/lake/, lake.py): one
   folder per family with a partition_key=<quarter> folder per quarter, and one Parquet file
   per small raw or registry table. On DuckDB the sources are the warehouse's own tables. #}
{# (Spark's session runs one statement per call: each is its own query.) #}
{% macro lake_sources() -%}
    {%- if execute and target.type != 'duckdb' -%}
    {%- set lake = var('tsdg_lake', env_var('TSDG_LAKE', '../warehouse/lake')) -%}
    {#- the families (a folder each) are the registry's; every other table is one file -#}
    {%- set families = {} -%}
    {%- for row in run_query('select raw_table, family from parquet.`' ~ lake
                             ~ '/_registry/families.parquet`') -%}
        {%- do families.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {%- for source in graph.sources.values() -%}
        {%- set table = source.schema ~ '.' ~ source.name -%}
        {%- set path = lake ~ '/' ~ families[table] if table in families
                       else lake ~ '/_' ~ source.schema ~ '/' ~ source.name ~ '.parquet' -%}
        {%- do run_query('create database if not exists ' ~ source.schema) -%}
        {%- do run_query('create or replace view ' ~ source.schema ~ '.' ~ source.name
                         ~ ' as select * from parquet.`' ~ path ~ '`') -%}
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
