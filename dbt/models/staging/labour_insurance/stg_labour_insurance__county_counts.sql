-- One row per month × county × measure_code.
with

latest as (
    {{ latest_version(source('raw', 'labour_insurance'), ['period_month', 'county_code', 'measure_code'], 'labour_insurance') }}
),

final as (
    select
        period_month,
        county_code,
        measure_code,
        cast(value as bigint) as count_value,
        value_note,
        source_file,
        file_sha256
    from latest
)

select * from final
