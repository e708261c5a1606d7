"""Named jobs users launch from the UI or the CLI."""

import dagster as dg

MAIN_JOB = "cardioml_main"

main_job = dg.define_asset_job(
    MAIN_JOB,
    # the on-demand exports (group `exports`) stay out of the job, its schedule and the sensor's runs
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("exports"),
    description="Materialize every asset but the on-demand exports: raw, staging, quality, images, features.",
)


def job_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[main_job])
