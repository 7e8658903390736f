-- One row per job-seeking episode (案號): the latest file's version wins.
with

latest as (
    {{ latest_version(source('raw', 'employment_services'), ['case_id'], 'employment_services') }}
),

final as (
    select
        case_id,
        person_key,
        branch_code,
        birth_date,
        county_code,
        target_groups,
        registration_date,
        placement_date,
        stable_3m,
        source_file,
        file_sha256,
        source_row,
        partition_key as reported_in_quarter
    from latest
)

select * from final
