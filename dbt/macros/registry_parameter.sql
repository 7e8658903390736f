{# A number from registry.parameters (registry/indicators.yml or sources.yml): the registry
   is its one home; models never write it as a literal. #}
{% macro registry_parameter(name) -%}
    (select cast(value as integer) from {{ source('registry', 'parameters') }} where name = '{{ name }}')
{%- endmacro %}
