"""`exports/wfdb`: every patient's digitized ECG as a WFDB record under `<artifacts>/exports/wfdb/`.
Off the default job and schedule (group `exports`): materialize it on demand (UI, `dg launch
--assets exports/wfdb`) or use `cardioml export-wfdb`."""

import time

import dagster as dg

from cardioml_pipeline.clinical.assets import staging_key
from cardioml_pipeline.ecg_images.assets import SIGNALS_KEY
from cardioml_pipeline.ecg_images.index import ArtifactLayout
from cardioml_pipeline.exports.wfdb_export import export_wfdb, read_clinical_context
from cardioml_pipeline.resources import ArtifactStoreResource, WarehouseResource

EXPORTS_GROUP = "exports"
WFDB_KEY = dg.AssetKey(["exports", "wfdb"])


@dg.asset(
    key=WFDB_KEY,
    deps=[SIGNALS_KEY, staging_key("patients"), staging_key("ecg_labels")],
    group_name=EXPORTS_GROUP,
    kinds={"wfdb"},
    description="Each patient's digitized 12-lead ECG as a WFDB record (format 16, 500 Hz, per-lead gain and baseline, "
    "missing samples as WFDB's invalid value) with #Age/#Sex/#Dx (SNOMED CT) header comments, the source image sha256s "
    "and QC verdicts. Not part of cardioml_main or its schedule.",
)
def wfdb_export(context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    with warehouse.connect(read_only=True) as conn:  # one short read; the signals come from the artifact files
        clinical = read_clinical_context(conn)
    out_dir = artifacts.root / "exports" / "wfdb"
    records = export_wfdb(ArtifactLayout(artifacts.root), clinical, out_dir, replace=True)
    seconds = time.perf_counter() - started
    context.log.info(f"exports/wfdb: {len(records)} WFDB records written in {seconds:.1f}s")
    return dg.MaterializeResult(
        metadata={
            "records": len(records),
            "directory": dg.MetadataValue.path(str(out_dir)),
            "format": "WFDB format 16, 500 Hz, 12 leads, mV",
            "seconds": round(seconds, 2),
        }
    )


def export_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[wfdb_export])
