"""Image layer assets: ECG_Images/ -> processed, content-addressed images + Parquet index
(`images/ecg_images`, view staging.ecg_images) and digitized signals (`images/ecg_signals`, view
staging.ecg_signals). One pass over the images produces both, so they are one multi-asset."""

import os

import dagster as dg
import polars as pl
from pydantic import Field

from cardioml_pipeline.clinical.assets import WRITER_POOL, staging_key
from cardioml_pipeline.ecg_images.gallery import write_gallery
from cardioml_pipeline.ecg_images.index import INDEX_DESCRIPTIONS, INDEX_SCHEMA, SIGNAL_DESCRIPTIONS, SIGNAL_SCHEMA, ArtifactLayout
from cardioml_pipeline.ecg_images.page_qc import MAX_CALIBRATION_SPREAD, MIN_LAYOUT_CONFIDENCE, page_summary
from cardioml_pipeline.ecg_images.qc import QC_METRICS
from cardioml_pipeline.ecg_images.processing import processing_version, run_image_stage
from cardioml_pipeline.metadata import PREVIEW_ROWS, column_schema, markdown_table, row_examples
from cardioml_pipeline.resources import ArtifactStoreResource, DatasetResource, WarehouseResource
from cardioml_pipeline.warehouse import query_frame

IMAGES_KEY = dg.AssetKey(["images", "ecg_images"])
SIGNALS_KEY = dg.AssetKey(["images", "ecg_signals"])
EXAMPLES = 10


class ImageStageConfig(dg.Config):
    workers: int | None = Field(default=None, description="Worker processes (local engine, or a local Dask cluster); default: every core.")
    engine: str | None = Field(
        default=None, description="'local' (a process pool on this machine) or 'dask' (Dask distributed). Default: $CARDIOML_IMAGE_ENGINE, else 'local'."
    )
    dask_scheduler_address: str | None = Field(
        default=None, description="Dask scheduler, e.g. tcp://scheduler:8786. Default: $CARDIOML_DASK_SCHEDULER, else a local cluster."
    )
    default_px_per_mm: float | None = Field(
        default=None, description="Calibration declared for grid-free images (pixels per mm); default: the processing code's."
    )


_DUCKDB_TYPES = {
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Float64: "DOUBLE",
    pl.Float32: "FLOAT",
    pl.String: "VARCHAR",
    pl.Boolean: "BOOLEAN",
}


def _duckdb_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.List):
        return _duckdb_type(dtype.inner) + "[]"
    return _DUCKDB_TYPES[dtype.base_type() if hasattr(dtype, "base_type") else dtype]


def _empty_select(schema: dict[str, pl.DataType]) -> str:
    columns = ", ".join(f'NULL::{_duckdb_type(t)} AS "{c}"' for c, t in schema.items())
    return f"SELECT {columns} WHERE false"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish_views(warehouse: WarehouseResource, layout: ArtifactLayout) -> None:
    """DuckDB views over the Parquet files: the write is a view definition, never the data."""
    signals_glob = layout.signals_dir / "patient_*.parquet"
    has_signals = layout.signals_dir.exists() and any(layout.signals_dir.glob("patient_*.parquet"))
    images_sql = f"SELECT * FROM read_parquet({_sql_string(str(layout.index_path))})" if layout.index_path.exists() else _empty_select(INDEX_SCHEMA)
    signals_sql = f"SELECT * FROM read_parquet({_sql_string(str(signals_glob))}, union_by_name = true)" if has_signals else _empty_select(SIGNAL_SCHEMA)
    with warehouse.transaction() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
        conn.execute(f"CREATE OR REPLACE VIEW staging.ecg_images AS {images_sql}")
        conn.execute(f"CREATE OR REPLACE VIEW staging.ecg_signals AS {signals_sql}")


def _judged_metrics() -> str:
    return "; ".join(
        f"{m.name} {'>=' if m.minimum is not None else '<='} {m.minimum if m.minimum is not None else m.maximum:g}"
        for m in QC_METRICS
        if m.minimum is not None or m.maximum is not None
    )


CHECK_DESCRIPTIONS = {
    "qc_verdicts": f"Quality control per image (WARN when any image fails): {_judged_metrics()}; heart rate within range; "
    "a printed calibration pulse that agrees with the grid. Each failing image lists its reasons in qc_reasons.",
    "rejected_files": "Files that could not be processed (name, format, size, duplicates, unknown patient), each with a reject_reason.",
    "complete_12_lead_sets": "Every patient with images has all 12 leads processed.",
    "page_layout_found": f"Every whole page's layout (3x4, 6x2, 12x1) placed with confidence >= {MIN_LAYOUT_CONFIDENCE}.",
    "page_leads_complete": "Every placed page gave all 12 leads a digitized segment.",
    "page_calibration_agreement": f"The leads of one page agree on its scale (px/mm within {MAX_CALIBRATION_SPREAD:.0%}).",
    "signals_match_index": "One signal per processed image, from the same source bytes.",
}


def _warn_check(name: str, passed: bool, metadata: dict) -> dg.AssetCheckResult:
    """A WARN-severity check of the image index, described as its spec is (`CHECK_DESCRIPTIONS`)."""
    return dg.AssetCheckResult(
        asset_key=IMAGES_KEY,
        check_name=name,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=CHECK_DESCRIPTIONS[name],
        metadata=metadata,
    )


def image_checks(index: pl.DataFrame) -> list[dg.AssetCheckResult]:
    rejected = index.filter(pl.col("reject_reason").is_not_null())
    processed = index.filter(pl.col("reject_reason").is_null())
    failed = processed.filter(~pl.col("qc_passed"))
    reasons = (
        failed.select(pl.col("qc_reasons").list.join("; ").alias("reasons")).group_by("reasons").len("images").sort("images", descending=True)
        if failed.height
        else None
    )
    leads = processed.group_by("file_number").agg(pl.col("lead").n_unique().alias("leads"))
    incomplete = leads.filter(pl.col("leads") < 12)
    pass_rate = processed.height and (processed.height - failed.height) / processed.height
    return [
        _warn_check(
            "qc_verdicts",
            failed.height == 0,
            {
                "images_processed": processed.height,
                "qc_failed": failed.height,
                "qc_pass_rate": float(pass_rate or 0.0),
                "failures_by_reason": dg.MetadataValue.md(markdown_table(reasons, max_rows=30) if reasons is not None else "none"),
                **row_examples(failed.select("source_path", "qc_reasons", "trace_coverage", "grid_residue", "beats_found"), EXAMPLES),
            },
        ),
        _warn_check(
            "rejected_files",
            rejected.height == 0,
            {
                "rejected": rejected.height,
                **row_examples(rejected.select("source_path", "reject_reason"), EXAMPLES),
            },
        ),
        *page_checks(index),
        _warn_check(
            "complete_12_lead_sets",
            incomplete.height == 0,
            {"patients_with_images": leads.height, "patients_incomplete": incomplete.height},
        ),
    ]


def page_checks(index: pl.DataFrame) -> list[dg.AssetCheckResult]:
    """Page-level QC of whole 12-lead pages (`page_qc.page_summary`): layout found with confidence,
    every lead found, the leads' calibrations agree. Pass trivially when there are no pages."""
    pages = page_summary(index)
    unplaced = pages.filter(pl.col("page_layout").is_null() | (pl.col("page_layout_confidence") < MIN_LAYOUT_CONFIDENCE))
    incomplete = pages.filter(pl.col("page_layout").is_not_null() & (pl.col("leads_missing").list.len() > 0))
    disagreeing = pages.filter(pl.col("calibration_spread") > MAX_CALIBRATION_SPREAD)
    return [
        _warn_check(
            "page_layout_found",
            unplaced.height == 0,
            {
                "pages": pages.height,
                "pages_not_placed": unplaced.height,
                **row_examples(unplaced.select("page_path", "page_layout", "page_layout_confidence", "page_reject_reason"), EXAMPLES),
            },
        ),
        _warn_check(
            "page_leads_complete",
            incomplete.height == 0,
            {
                "pages_incomplete": incomplete.height,
                **row_examples(incomplete.select("page_path", "page_layout", pl.col("leads_missing").list.join(", ")), EXAMPLES),
            },
        ),
        _warn_check(
            "page_calibration_agreement",
            disagreeing.height == 0,
            {
                "pages_disagreeing": disagreeing.height,
                "max_spread": float(pages["calibration_spread"].max() or 0.0) if pages.height else 0.0,
                **row_examples(disagreeing.select("page_path", "calibration_spread"), EXAMPLES),
            },
        ),
    ]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            IMAGES_KEY,
            deps=[staging_key("patients")],
            group_name="images",
            kinds={"opencv", "parquet"},
            code_version=processing_version(),
            description="`staging.ecg_images`: one row per source image under ECG_Images/ (processed or rejected): calibration, processed content-addressed PNG, QC metrics and verdict, reject reason, processing version. Parquet index under the artifacts directory.",
        ),
        dg.AssetSpec(
            SIGNALS_KEY,
            deps=[IMAGES_KEY],
            group_name="images",
            kinds={"parquet"},
            code_version=processing_version(),
            description="`staging.ecg_signals`: one row per digitized lead segment: (file_number, lead) for a per-lead image; a whole page gives one per segment (lead II twice on a 3x4 + II page), told apart by source_path, start_s, duration_s and is_rhythm_strip. The trace in mV at 500 Hz with its calibration source and QC verdict. One Parquet file per patient.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(name, asset=SIGNALS_KEY if name == "signals_match_index" else IMAGES_KEY, description=text)
        for name, text in CHECK_DESCRIPTIONS.items()
    ],
    pool=WRITER_POOL,
    name="ecg_image_stage",
)
def ecg_image_stage(
    context: dg.AssetExecutionContext,
    config: ImageStageConfig,
    dataset: DatasetResource,
    artifacts: ArtifactStoreResource,
    warehouse: WarehouseResource,
):
    layout = ArtifactLayout(artifacts.root)
    with warehouse.connect() as conn:
        known = set(query_frame(conn, "SELECT file_number FROM staging.patients")["file_number"].to_list())
    images_dir = dataset.images_dir
    if not images_dir.exists():
        context.log.info(f"{images_dir} does not exist: no ECG images in this dataset")

    last_logged = [0.0]

    def progress(done: int, total: int) -> None:
        import time

        now = time.monotonic()
        if done == total or now - last_logged[0] > 10:
            last_logged[0] = now
            context.log.info(f"image stage: {done}/{total} images processed")

    engine = config.engine or os.environ.get("CARDIOML_IMAGE_ENGINE") or "local"
    scheduler = config.dask_scheduler_address or os.environ.get("CARDIOML_DASK_SCHEDULER") or None
    index, summary = run_image_stage(
        images_dir,
        layout.root,
        known,
        workers=config.workers,
        default_px_per_mm=config.default_px_per_mm,
        progress=progress,
        engine=engine,
        dask_scheduler_address=scheduler,
    )
    index = index.collect()
    publish_views(warehouse, layout)
    try:  # the gallery is for people to look at: a failure to draw it must not fail the stage
        gallery = write_gallery(index, images_dir, layout, context.run_id)
        context.log.info(f"QC gallery ({gallery.failed_shown} of {gallery.failed_total} failed or rejected leads, {gallery.passing_shown} passing): {gallery.path}")
    except Exception as error:  # noqa: BLE001
        gallery = None
        context.log.warning(f"QC gallery not written: {error!r}")
    context.log.info(
        f"image stage: {summary.images_found} files, {summary.files_processed} processed ({summary.pages_processed} whole pages) "
        f"into {summary.segments_processed} lead segments, {summary.reused} unchanged, "
        f"{summary.rejected} rejected, {summary.qc_failed} failed QC, {summary.seconds:.1f}s on {summary.workers} workers"
    )
    with warehouse.connect() as conn:
        signal_rows = query_frame(conn, "SELECT file_number, lead, source_sha256, n_samples FROM staging.ecg_signals")
    expected = index.filter(pl.col("reject_reason").is_null()).select("file_number", "lead", "source_sha256")
    missing = expected.join(signal_rows, on=["file_number", "lead", "source_sha256"], how="anti")
    extra = signal_rows.join(expected, on=["file_number", "lead", "source_sha256"], how="anti")
    preview = index.select("file_number", "lead", "calibration_source", "px_per_mm_x", "qc_passed", "beats_found", "heart_rate_bpm", "reject_reason")
    yield dg.MaterializeResult(
        asset_key=IMAGES_KEY,
        metadata={
            "dagster/row_count": index.height,
            "dagster/column_schema": column_schema(index, INDEX_DESCRIPTIONS),
            "dagster/table_name": "staging.ecg_images",
            "index_path": dg.MetadataValue.path(str(layout.index_path)),
            "images_processed_this_run": summary.processed,  # lead segments (index rows), as before
            "files_processed_this_run": summary.files_processed,
            "pages_processed_this_run": summary.pages_processed,
            "lead_segments_processed_this_run": summary.segments_processed,
            "images_unchanged": summary.reused,
            "images_rejected": summary.rejected,
            "images_failed_qc": summary.qc_failed,
            "workers": summary.workers,
            "engine": engine,
            "seconds": round(summary.seconds, 2),
            "images_per_second": round(summary.processed / summary.seconds, 2) if summary.seconds and summary.processed else 0.0,
            "processing_version": processing_version(),
            **row_examples(preview, PREVIEW_ROWS, key="preview"),
            **({"qc_gallery": dg.MetadataValue.path(str(gallery.path))} if gallery else {}),
        },
        check_results=image_checks(index),
    )
    lineage = dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=IMAGES_KEY, column_name=source)]
            for column, source in {
                "file_number": "file_number",
                "lead": "lead",
                "signal_mv": "processed_path",
                "calibration_source": "calibration_source",
                "qc_passed": "qc_passed",
                "qc_reasons": "qc_reasons",
                "source_sha256": "source_sha256",
                "processing_version": "processing_version",
                "source_path": "source_path",
                "start_s": "start_s",
                "duration_s": "duration_s",
                "is_rhythm_strip": "is_rhythm_strip",
            }.items()
        }
    )
    yield dg.MaterializeResult(
        asset_key=SIGNALS_KEY,
        metadata={
            "dagster/row_count": signal_rows.height,
            "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(c, str(t), description=SIGNAL_DESCRIPTIONS.get(c)) for c, t in SIGNAL_SCHEMA.items()]),
            "dagster/column_lineage": lineage,
            "dagster/table_name": "staging.ecg_signals",
            "signals_dir": dg.MetadataValue.path(str(layout.signals_dir)),
            "patients_with_signals": signal_rows["file_number"].n_unique(),
            "patient_files_written_this_run": summary.patients_written,
        },
        check_results=[
            dg.AssetCheckResult(
                asset_key=SIGNALS_KEY,
                check_name="signals_match_index",
                passed=missing.height == 0 and extra.height == 0,
                description=CHECK_DESCRIPTIONS["signals_match_index"],
                metadata={"missing_signals": missing.height, "stale_signals": extra.height},
            )
        ],
    )


def image_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[ecg_image_stage])
