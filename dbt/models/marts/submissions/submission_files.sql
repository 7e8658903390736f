-- The lifecycle of every landed file: loaded (current), superseded (an earlier vintage)
-- or quarantined (refused, with the report its sender was given).
with

landed_files as (
    select * from {{ source('raw', 'landed_files') }}
),

final as (
    select
        family, submitter, period, vintage, state, state_reason, file_name, file_sha256,
        size_bytes, received_at, loaded_at, quarantine_report, run_id
    from landed_files
)

select * from final
