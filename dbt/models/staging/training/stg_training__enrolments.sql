-- One row per enrolment (person × course): the latest file's version wins.
with

latest as (
    {{ latest_version(source('raw', 'training_rosters'), ['person_key', 'course_id'], 'training_rosters') }}
),

final as (
    select
        person_key,
        course_id,
        branch_code,
        programme,
        is_ict,
        birth_date,
        sex,
        trainee_status,
        target_groups,
        county_code,
        start_date,
        end_date,
        status,
        employed_within_3m,
        source_file,
        file_sha256,
        source_row,
        partition_key as reported_in_quarter
    from latest
)

select * from final
