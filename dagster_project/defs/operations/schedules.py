"""The quarterly refresh, in Taiwan time, some days after each quarter closes."""

import os
from datetime import datetime

import dagster as dg

from dagster_project.defs.operations.jobs import refresh_job

TIMEZONE = "Asia/Taipei"
# Day of the month after a quarter closes (Jan, Apr, Jul, Oct) at 06:00 Taipei time.
REFRESH_DAY = int(os.environ.get("TSDG_REFRESH_DAY", "20"))
CRON = f"0 6 {REFRESH_DAY} 1,4,7,10 *"


def newest_closed_quarter(moment: datetime) -> str:
    quarter = (moment.month - 1) // 3 + 1
    return f"{moment.year}Q{quarter - 1}" if quarter > 1 else f"{moment.year - 1}Q4"


@dg.schedule(
    name="quarterly_refresh_schedule",
    job=refresh_job,
    cron_schedule=CRON,
    execution_timezone=TIMEZONE,
    description=f"Refresh the newest closed quarter end to end, on day {REFRESH_DAY} of the "
                f"month after the quarter ({TIMEZONE}); set TSDG_REFRESH_DAY to move it.",
)
def quarterly_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    quarter = newest_closed_quarter(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"scheduled-{quarter}", partition_key=quarter,
                         tags={"tsdg/trigger": "schedule"})
