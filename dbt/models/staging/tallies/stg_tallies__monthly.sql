-- One row per month × owner unit × measure_code.
with

latest as (
    {{ latest_version(source('raw', 'programme_tallies'), ['period_month', 'unit', 'measure_code']) }}
),

final as (
    select
        period_month,
        unit as owner_unit,
        measure_code,
        cast(value as bigint) as tally_value,
        source_file,
        file_sha256,
    from latest
)

select * from final
