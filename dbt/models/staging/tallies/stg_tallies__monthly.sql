-- One row per month × owner unit × measure_code.
with

latest as (
    {{ latest_version(source('raw', 'programme_tallies'), ['period_month', 'unit', 'measure_code'], 'programme_tallies') }}
),

final as (
    select
        period_month,
        unit as owner_unit,
        measure_code,
        cast(value as bigint) as tally_value,
        value_note,
        source_file,
        file_sha256
    from latest
)

select * from final
