"""Schedules: a daily refresh of everything (the `cardioml_main` job).

Re-running over unchanged inputs rewrites nothing (every table records the input fingerprint it was
written from), so the daily run costs little when nothing changed and repairs anything a failed or
skipped run left behind. Off by default: turn it on in the UI (Automation) or with
`dagster schedule start -m cardioml_pipeline.definitions cardioml_daily_refresh`.
"""

from __future__ import annotations

import dagster as dg

from cardioml_pipeline.jobs import MAIN_JOB

DAILY_SCHEDULE = "cardioml_daily_refresh"
DAILY_CRON = "0 3 * * *"
DAILY_TIMEZONE = "UTC"


@dg.schedule(
    name=DAILY_SCHEDULE,
    cron_schedule=DAILY_CRON,
    execution_timezone=DAILY_TIMEZONE,
    job_name=MAIN_JOB,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every day at 03:00 UTC: materialize every asset (cardioml_main); unchanged inputs are not rewritten.",
)
def daily_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"{DAILY_SCHEDULE}:{day}", tags={"cardioml/trigger": DAILY_SCHEDULE, "cardioml/day": day})
