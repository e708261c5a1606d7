"""Page-level quality control over the image index (plain Polars, no OpenCV): one row per whole page
with its layout, confidence, the leads digitized from it and how well their calibrations agree.
The image stage's asset checks report from it (`assets.image_checks`)."""

from __future__ import annotations

import polars as pl

from cardioml_pipeline.ecg_images.discovery import LEADS

MIN_LAYOUT_CONFIDENCE = 0.6  # `pages.MIN_CONFIDENCE`, repeated so this module stays free of OpenCV
MAX_CALIBRATION_SPREAD = 0.05  # the leads of one page share one scale: px/mm within 5 % of each other


def page_summary(index: pl.DataFrame) -> pl.DataFrame:
    """One row per page file (`page_path` not null): layout, confidence, reject reason (the page's own,
    when its layout was not placed), leads digitized, leads missing, and the spread of its leads'
    px/mm (max / min - 1, horizontal and vertical, the larger)."""
    pages = index.filter(pl.col("page_path").is_not_null())
    if pages.height == 0:
        return pl.DataFrame(
            schema={
                "page_path": pl.String, "page_layout": pl.String, "page_layout_confidence": pl.Float64, "page_reject_reason": pl.String,
                "leads_digitized": pl.UInt32, "leads_missing": pl.List(pl.String), "calibration_spread": pl.Float64,
            }
        )
    ok = pl.col("reject_reason").is_null()
    spread_x = pl.col("px_per_mm_x").filter(ok).max() / pl.col("px_per_mm_x").filter(ok).min() - 1
    spread_y = pl.col("px_per_mm_y").filter(ok).max() / pl.col("px_per_mm_y").filter(ok).min() - 1
    summary = pages.group_by("page_path", maintain_order=True).agg(
        pl.col("page_layout").first(),
        pl.col("page_layout_confidence").first(),
        # a page that was not placed has one row, lead null, with the reason
        pl.col("reject_reason").filter(pl.col("lead").is_null()).first().alias("page_reject_reason"),
        pl.col("lead").filter(ok).n_unique().alias("leads_digitized"),
        pl.col("lead").filter(ok).unique().alias("_found"),
        pl.max_horizontal(spread_x, spread_y).alias("calibration_spread"),
    )
    return summary.with_columns(
        pl.col("_found").map_elements(lambda found: [lead for lead in LEADS if lead not in set(found)], return_dtype=pl.List(pl.String)).alias("leads_missing")
    ).drop("_found")
