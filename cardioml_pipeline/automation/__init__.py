"""Operations automation: the daily schedule, the dataset sensor, declarative automation, and the
checks that gate the published warehouse snapshot."""

from __future__ import annotations

import dagster as dg

from cardioml_pipeline.automation.consistency import register
from cardioml_pipeline.automation.schedules import daily_refresh
from cardioml_pipeline.automation.sensors import automation_condition_sensor, dataset_sensor


def automation_definitions() -> dg.Definitions:
    register()
    return dg.Definitions(schedules=[daily_refresh], sensors=[dataset_sensor, automation_condition_sensor])
