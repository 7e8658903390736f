-- Monthly flows from training enrolments: starts by 開訓日期, completers by 結訓日期.
with

enrolments as (
    select * from {{ ref('stg_training__enrolments') }}
),

classified as (
    select
        *,
        programme = '職前訓練' and trainee_status = '失業者' as is_pre_unemployed,
        programme in ('職前訓練', '青年職業訓練') and {{ is_youth('birth_date', 'start_date') }}
            as is_youth_training,
        status = '結訓' and employed_within_3m in ('Y', 'N') as is_completer_known,
        employed_within_3m = 'Y' as is_employed
    from enrolments
),

events as (
    select {{ month_start('start_date') }} as period_month, 'tr.pre_unemployed_starts' as flow_code,
        is_pre_unemployed as is_counted
    from classified
    union all
    select {{ month_start('start_date') }}, 'tr.pre_unemployed_disadvantaged_starts',
        is_pre_unemployed and cardinality(target_groups) > 0
    from classified
    union all
    select {{ month_start('start_date') }}, 'tr.ict_youth_starts',
        is_ict and {{ is_youth('birth_date', 'start_date') }}
    from classified
    union all
    select {{ month_start('start_date') }}, 'tr.ict_unemployed_starts',
        is_ict and trainee_status = '失業者'
    from classified
    union all
    select {{ month_start('start_date') }}, 'tr.youth_training_starts', is_youth_training
    from classified
    union all
    select {{ month_start('start_date') }}, 'tr.social_innovation_starts',
        programme = '社會創新專案管理'
    from classified
    union all
    select {{ month_start('end_date') }}, 'tr.pre_unemployed_completers_known',
        is_pre_unemployed and is_completer_known
    from classified
    union all
    select {{ month_start('end_date') }}, 'tr.pre_unemployed_employed',
        is_pre_unemployed and is_completer_known and is_employed
    from classified
    union all
    select {{ month_start('end_date') }}, 'tr.youth_training_completers_known',
        is_youth_training and is_completer_known
    from classified
    union all
    select {{ month_start('end_date') }}, 'tr.youth_training_employed',
        is_youth_training and is_completer_known and is_employed
    from classified
),

final as (
    {{ count_flows('events') }}
)

select * from final
