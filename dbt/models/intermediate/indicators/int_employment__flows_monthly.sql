-- Monthly flows from job-seeking episodes: registrations by 求職登記日期,
-- placements (and their stable follow-up) by 推介就業日期.
with

episodes as (
    select * from {{ ref('stg_employment__episodes') }}
),

classified as (
    select
        *,
        {{ list_has_any_of('target_groups', ['低收入戶', '中低收入戶']) }} as is_low_income,
        array_contains(target_groups, '身心障礙者') as is_disabled,
        array_contains(target_groups, '施用毒品者') as is_drug_user,
        placement_date is not null as is_placed
    from episodes
),

events as (
    select {{ month_start('placement_date') }} as period_month,
        'pes.low_income_placements' as flow_code, is_low_income and is_placed as is_counted
    from classified
    union all
    select {{ month_start('placement_date') }}, 'pes.disability_placements', is_disabled and is_placed
    from classified
    union all
    select {{ month_start('registration_date') }}, 'pes.disability_registrations', is_disabled
    from classified
    union all
    select {{ month_start('placement_date') }}, 'pes.youth_placements',
        is_placed and {{ is_youth('birth_date', 'placement_date') }}
    from classified
    union all
    select {{ month_start('registration_date') }}, 'pes.drug_registrations', is_drug_user
    from classified
    union all
    select {{ month_start('placement_date') }}, 'pes.drug_placements', is_drug_user and is_placed
    from classified
    union all
    select {{ month_start('placement_date') }}, 'pes.drug_stable_3m',
        is_drug_user and is_placed and stable_3m = 'Y'
    from classified
),

final as (
    {{ count_flows('events') }}
)

select * from final
