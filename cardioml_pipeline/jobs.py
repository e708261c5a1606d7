"""Named jobs users launch from the UI or the CLI."""

import dagster as dg

MAIN_JOB = "cardioml_main"

main_job = dg.define_asset_job(
    MAIN_JOB,
    selection=dg.AssetSelection.all(),
    description="Materialize every asset: raw, staging, quality (and the later layers).",
)


def job_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[main_job])
