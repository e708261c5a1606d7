"""Feature layer assets: ECG lead features -> patient features -> splits, feature dictionary ->
baseline. Thin wiring over the pure functions beside it; every write goes through one
WarehouseResource transaction and is skipped when its inputs' fingerprints are unchanged."""

import os
import time
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cardioml_pipeline.clinical.assets import fingerprint
from cardioml_pipeline.ecg_images.index import atomic_write_arrow
from cardioml_pipeline.features import dictionary as registry
from cardioml_pipeline.features.baseline import BASELINE_DESCRIPTIONS, run_baseline
from cardioml_pipeline.features.targets import death_contradictions
from cardioml_pipeline.features.ecg import (
    ECG_PROCESSING_VERSION,
    LEAD_MEASURES,
    LEAD_TABLE_SCHEMA,
    conform_signals,
    empty_signals,
    extract_lead_features,
)
from cardioml_pipeline.features.splits import DEFAULT_SEED, FRACTIONS, SPLIT_DESCRIPTIONS, SPLITS, assign_splits, leaking_groups, split_summary
from cardioml_pipeline.features.targets import FINDING_CODES, finding_target
from cardioml_pipeline.metadata import markdown_table, row_examples, table_metadata
from cardioml_pipeline.resources import ArtifactStoreResource, WarehouseResource
from cardioml_pipeline.warehouse import read_table, recorded_fingerprint, replace_table

WRITER_POOL = "duckdb_writer"
GROUP = "features"
CODE_VERSION = "features-3"  # 3: baseline repeated CV below 10 test positives, triage feature set, dictionary baseline_feature_sets

SIGNALS_KEY = dg.AssetKey(["images", "ecg_signals"])
SIGNALS_VIEW = "staging.ecg_signals"
# The contract puts signal files under <artifacts>/signals/; the image stage's index module writes
# <artifacts>/ecg_images/signals/. Both are read when the view is absent.
SIGNAL_GLOBS = ("signals/**/*.parquet", "ecg_images/signals/**/*.parquet")
STAGING_INPUTS = (
    "patients",
    "emergency_admission",
    "complete_blood_count",
    "metabolic_panel",
    "inflammatory_markers",
    "coagulation_profile",
    "urinalysis",
    "arterial_blood_gas",
    "medical_history",
    "ecg_labels",
)

LEAD_TABLE = "features.ecg_lead_features"
FEATURES_TABLE = "features.patient_features"
SPLITS_TABLE = "features.splits"
DICTIONARY_TABLE = "features.feature_dictionary"
BASELINE_TABLE = "features.baseline_metrics"

LEAD_FEATURES_KEY = dg.AssetKey(["features", "ecg_lead_features"])
PATIENT_FEATURES_KEY = dg.AssetKey(["features", "patient_features"])
SPLITS_KEY = dg.AssetKey(["features", "splits"])
DICTIONARY_KEY = dg.AssetKey(["features", "feature_dictionary"])
BASELINE_KEY = dg.AssetKey(["features", "baseline_metrics"])

OMITTED_FEATURES = {
    "anion_gap": "needs chloride, which no CARDIO-ML table records (sodium and HCO3 alone do not give it)",
    "corrected_calcium": "needs albumin, which no CARDIO-ML table records",
}


# ---------------------------------------------------------------------------------------------
# Helpers


def _exists(conn: duckdb.DuckDBPyConnection, table_name: str) -> bool:
    schema, _, table = table_name.partition(".")
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
        ).fetchall()[0][0]
    )


def features_dir(artifacts: ArtifactStoreResource) -> Path:
    return artifacts.root / "features"


def write_parquet(path: Path, frame: pl.DataFrame, field_metadata: dict[str, dict[bytes, bytes]], table_metadata_: dict[str, str]) -> None:
    """Atomic write (temporary file + rename, `atomic_write_arrow`) with per-field and file-level metadata."""
    table = frame.to_arrow()
    fields = [f.with_metadata(field_metadata[f.name]) if field_metadata.get(f.name) else f for f in table.schema]
    metadata = {k.encode(): v.encode() for k, v in table_metadata_.items()}
    atomic_write_arrow(path, table.cast(pa.schema(fields, metadata=metadata)))


def parquet_fingerprint(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    value = metadata.get(b"cardioml.fingerprint")
    return value.decode() if value else None


def _descriptions(columns: list[str]) -> dict[str, str]:
    """Column descriptions for the UI schema, with the unit appended."""
    specs = registry.specs_by_name()
    return {name: specs[name].description + (f" [{specs[name].unit}]" if specs[name].unit else "") for name in columns if name in specs}


def read_signals(warehouse: WarehouseResource, artifacts_root: Path) -> tuple[pl.DataFrame, str]:
    """The digitized leads: the staging.ecg_signals view when it exists, else the Parquet files.
    No view, an empty view, a view over a folder without files, no files: an empty frame."""
    with warehouse.connect() as conn:
        if _exists(conn, SIGNALS_VIEW):
            try:
                return conform_signals(conn.sql(f"SELECT * FROM {SIGNALS_VIEW}").pl()), SIGNALS_VIEW
            except duckdb.IOException as error:
                if "no files found" not in str(error).lower():
                    raise dg.Failure(f"{SIGNALS_VIEW} cannot be read: {error}") from error
                return empty_signals(), f"{SIGNALS_VIEW} (no signal files)"
    files = sorted({p for pattern in SIGNAL_GLOBS for p in artifacts_root.glob(pattern) if not p.name.startswith(".")})
    if not files:
        return empty_signals(), f"no {SIGNALS_VIEW} view and no Parquet files under {artifacts_root}/{{{', '.join(SIGNAL_GLOBS)}}}"
    frames = [conform_signals(pl.read_parquet(path)) for path in files]
    return pl.concat(frames, how="vertical"), f"{len(files)} Parquet files under {artifacts_root}"


def frame_fingerprint(frame: pl.DataFrame) -> str:
    """Order-independent content fingerprint of a frame (schema, row count, sum of row hashes)."""
    schema = ",".join(f"{name}:{dtype}" for name, dtype in frame.schema.items())
    if frame.height == 0:
        return fingerprint(schema, "0")
    total = int(frame.hash_rows(seed=0).to_numpy().astype(np.uint64).sum(dtype=np.uint64))
    return fingerprint(schema, str(frame.height), str(total))


def signals_fingerprint(signals: pl.DataFrame) -> str:
    return frame_fingerprint(signals.select("file_number", "lead", "sampling_rate_hz", "qc_passed", "source_sha256", "processing_version", "signal_mv"))


# ---------------------------------------------------------------------------------------------
# ECG lead features


def _lead_lineage() -> dg.TableColumnLineage:
    deps = {
        "file_number": [dg.TableColumnDep(SIGNALS_KEY, "file_number")],
        "lead": [dg.TableColumnDep(SIGNALS_KEY, "lead")],
        "sampling_rate_hz": [dg.TableColumnDep(SIGNALS_KEY, "sampling_rate_hz")],
        "duration_s": [dg.TableColumnDep(SIGNALS_KEY, "signal_mv"), dg.TableColumnDep(SIGNALS_KEY, "sampling_rate_hz")],
        "qc_reasons": [dg.TableColumnDep(SIGNALS_KEY, c) for c in ("signal_mv", "sampling_rate_hz", "qc_passed")],
        "digitizer_qc_passed": [dg.TableColumnDep(SIGNALS_KEY, "qc_passed")],
        "source_sha256": [dg.TableColumnDep(SIGNALS_KEY, "source_sha256")],
        "processing_version": [dg.TableColumnDep(SIGNALS_KEY, "processing_version")],
    }
    for m in LEAD_MEASURES:
        deps[m.name] = [dg.TableColumnDep(SIGNALS_KEY, c) for c in m.inputs]
    return dg.TableColumnLineage(deps_by_column=deps)


@dg.asset(
    key=LEAD_FEATURES_KEY,
    deps=[SIGNALS_KEY],
    group_name=GROUP,
    kinds={"duckdb", "polars", "python"},
    pool=WRITER_POOL,
    code_version=f"{CODE_VERSION}/{ECG_PROCESSING_VERSION}",
    description=(
        "`features.ecg_lead_features`: one row per (file_number, lead) of `staging.ecg_signals` with heart rate, RR mean/SDNN, "
        "PR, QRS, QT, QTc (Bazett), R/S amplitudes, ST deviation (J+60), signal quality and the QC verdict with its reasons "
        "(neurokit2 cleaning and R peaks, median-beat delineation). Empty when there are no digitized signals."
    ),
)
def ecg_lead_features(context: dg.AssetExecutionContext, warehouse: WarehouseResource, artifacts: ArtifactStoreResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    signals, source = read_signals(warehouse, artifacts.root)
    version = fingerprint(signals_fingerprint(signals), ECG_PROCESSING_VERSION, CODE_VERSION)
    with warehouse.connect() as conn:
        unchanged = recorded_fingerprint(conn, LEAD_TABLE) == version
        table = read_table(conn, LEAD_TABLE) if unchanged else None
    if table is None:
        workers = min(4, os.cpu_count() or 1)
        table = extract_lead_features(signals, workers=workers)
        with warehouse.transaction() as conn:
            replace_table(conn, LEAD_TABLE, table, version)
    table = table.select([pl.col(c).cast(t) for c, t in LEAD_TABLE_SCHEMA.items()])
    elapsed = time.perf_counter() - started
    context.log.info(f"{LEAD_TABLE}: {table.height} leads from {source} ({'unchanged, not rewritten' if unchanged else 'written'}, {elapsed:.1f}s)")
    reasons = (
        table.select(pl.col("qc_reasons").explode().drop_nulls().alias("reason")).group_by("reason").len("leads").sort("leads", descending=True)
        if table.height
        else pl.DataFrame()
    )
    descriptions = {m.name: m.description + (f" [{m.unit}]" if m.unit else "") for m in LEAD_MEASURES}
    descriptions.update(qc_reasons="Why the lead failed QC (empty when it passed).", digitizer_qc_passed="The digitizer's own QC verdict (staging.ecg_signals.qc_passed).", duration_s="Signal length in seconds.")
    metadata = table_metadata(table, LEAD_TABLE, warehouse.path, descriptions, _lead_lineage(), preview_columns=["file_number", "lead", "heart_rate_bpm", "qrs_ms", "qt_ms", "signal_quality", "qc_passed"])
    metadata.update(
        {
            "signal_source": source,
            "patients": table["file_number"].n_unique() if table.height else 0,
            "leads_passed_qc": int(table["qc_passed"].sum() or 0) if table.height else 0,
            "qc_failure_reasons": dg.MetadataValue.md(markdown_table(reasons, max_rows=20) if reasons.height else "none"),
            "rewritten": not unchanged,
            "seconds": round(elapsed, 2),
        }
    )
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(version))


# ---------------------------------------------------------------------------------------------
# Patient features


PATIENT_CHECKS = [
    dg.AssetCheckSpec("one_row_per_patient", asset=PATIENT_FEATURES_KEY, description="one row per staging.patients file number"),
    dg.AssetCheckSpec("feature_schema", asset=PATIENT_FEATURES_KEY, description="pandera: dtypes, unique key, 0/1 flags and targets, plausible derived values"),
    dg.AssetCheckSpec(
        "outcome_death_reconciled",
        asset=PATIENT_FEATURES_KEY,
        description="warns when Death, the discharge status and the cause of death contradict each other (outcome_death reconciles them; counts per contradiction)",
    ),
]


@dg.asset(
    key=PATIENT_FEATURES_KEY,
    deps=[dg.AssetKey(["staging", t]) for t in STAGING_INPUTS] + [LEAD_FEATURES_KEY, SIGNALS_KEY],
    group_name=GROUP,
    kinds={"duckdb", "polars", "parquet"},
    pool=WRITER_POOL,
    code_version=CODE_VERSION,
    check_specs=PATIENT_CHECKS,
    description=(
        "`features.patient_features` (and `features/patient_features.parquet`): one row per patient with typed clinical "
        "features (demographics, triage vitals, labs with censoring flags, history flags), derived features (MAP, pulse "
        "pressure, shock index, BUN, BUN/creatinine, eGFR CKD-EPI 2021, NLR), panel-ordered indicators, ECG features per "
        "lead and across QC-passed leads, targets per ECG finding (null when unlabelled) and outcomes. Units, formulas "
        "and sources: features.feature_dictionary."
    ),
)
def patient_features(context: dg.AssetExecutionContext, warehouse: WarehouseResource, artifacts: ArtifactStoreResource) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        missing = [t for t in STAGING_INPUTS if not _exists(conn, f"staging.{t}")]
        if missing:
            raise dg.Failure(f"staging tables not loaded: {', '.join(missing)}: materialize the staging layer first")
        tables = {t: read_table(conn, f"staging.{t}") for t in STAGING_INPUTS}
        versions = [recorded_fingerprint(conn, f"staging.{t}") or "unknown" for t in STAGING_INPUTS]
        has_leads = _exists(conn, LEAD_TABLE)
        lead_table = read_table(conn, LEAD_TABLE) if has_leads else pl.DataFrame(schema=LEAD_TABLE_SCHEMA)
        versions.append(recorded_fingerprint(conn, LEAD_TABLE) or "no-lead-features")
    frame = registry.assemble_patient_features(tables, lead_table)
    version = fingerprint(*versions, CODE_VERSION)
    parquet_path = features_dir(artifacts) / "patient_features.parquet"
    with warehouse.transaction() as conn:
        written = recorded_fingerprint(conn, FEATURES_TABLE) != version
        if written:
            replace_table(conn, FEATURES_TABLE, frame, version)
    if written or parquet_fingerprint(parquet_path) != version:
        write_parquet(
            parquet_path,
            frame,
            {name: registry.field_metadata(name) for name in frame.columns},
            {"cardioml.table": FEATURES_TABLE, "cardioml.fingerprint": version, "cardioml.dictionary": DICTIONARY_TABLE},
        )
    patients = tables["patients"]["file_number"]
    failures = registry.schema_failures(frame)
    specs = registry.feature_specs()
    by_group = pl.DataFrame({"group": [s.group for s in specs], "role": [s.role for s in specs]}).group_by("role", "group", maintain_order=True).len("columns")
    ecg_present = frame.filter(pl.col("ecg_leads_available") > 0).height
    lineage = registry.column_lineage(frame.columns)
    metadata = table_metadata(frame, FEATURES_TABLE, warehouse.path, _descriptions(frame.columns), lineage, preview_columns=["file_number", "age", "sex_male", "mean_arterial_pressure", "egfr_ckd_epi_2021", "ecg_heart_rate_bpm", "target_any_cardiac_finding", "outcome_death"])
    metadata.update(
        {
            "parquet": dg.MetadataValue.path(str(parquet_path)),
            "columns_by_group": dg.MetadataValue.md(markdown_table(by_group, max_rows=50)),
            "patients_with_ecg_signals": ecg_present,
            "patients_labelled": frame.filter(pl.col("target_any_cardiac_finding").is_not_null()).height,
            "omitted_features": dg.MetadataValue.md("\n".join(f"- `{k}`: {v}" for k, v in OMITTED_FEATURES.items())),
            "rewritten": written,
        }
    )
    if ecg_present == 0:
        context.log.warning("no digitized ECG signals: every ECG feature is null")
    checks = [
        dg.AssetCheckResult(
            check_name="one_row_per_patient",
            passed=frame.height == patients.n_unique() and frame["file_number"].n_unique() == frame.height,
            metadata={"rows": frame.height, "patients": patients.n_unique()},
        ),
        dg.AssetCheckResult(
            check_name="feature_schema",
            passed=failures.height == 0,
            metadata={
                "failure_count": failures.height,
                **(row_examples(failures.select("column", "check", "failure_case").cast(pl.String), 10) if failures.height else {}),
            },
        ),
    ]
    contradictions = death_contradictions(tables["patients"])
    counts = contradictions.group_by("reason").len("patients").sort("reason")
    checks.append(
        dg.AssetCheckResult(
            check_name="outcome_death_reconciled",
            passed=contradictions.height == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "contradicting_patients": contradictions["file_number"].n_unique(),
                "by_contradiction": dg.MetadataValue.md(markdown_table(counts, max_rows=10) if counts.height else "none"),
                "rule": "outcome_death = 1 if Death = 1 or status deceased or a cause of death; else 0 if Death = 0 or any discharge status; else null",
            },
        )
    )
    return dg.MaterializeResult(metadata=metadata, check_results=checks, data_version=dg.DataVersion(version))


# ---------------------------------------------------------------------------------------------
# Splits


class SplitConfig(dg.Config):
    seed: int = DEFAULT_SEED


SPLIT_CHECKS = [
    dg.AssetCheckSpec("no_record_number_in_two_splits", asset=SPLITS_KEY, description="patients sharing a record number share a split"),
    dg.AssetCheckSpec("proportions_70_15_15", asset=SPLITS_KEY, description="each split within 2 points of 70/15/15"),
]


@dg.asset(
    key=SPLITS_KEY,
    deps=[PATIENT_FEATURES_KEY],
    group_name=GROUP,
    kinds={"duckdb", "polars", "parquet"},
    pool=WRITER_POOL,
    code_version=CODE_VERSION,
    check_specs=SPLIT_CHECKS,
    description=(
        "`features.splits` (and `features/splits.parquet`): train/validation/test 70/15/15, deterministic for the seed, "
        "grouped by record number (shared record numbers never straddle splits), stratified by the rarest ECG finding "
        "of the group and, within it, by death."
    ),
)
def splits(context: dg.AssetExecutionContext, config: SplitConfig, warehouse: WarehouseResource, artifacts: ArtifactStoreResource) -> dg.MaterializeResult:
    finding_columns = [finding_target(code) for code in FINDING_CODES]
    with warehouse.connect() as conn:
        features_version = recorded_fingerprint(conn, FEATURES_TABLE)
        if features_version is None:
            raise dg.Failure(f"{FEATURES_TABLE} has not been built: materialize it first")
        frame = conn.sql(f"SELECT file_number, record_number, outcome_death, {', '.join(finding_columns)} FROM {FEATURES_TABLE}").pl()
    table = assign_splits(frame, finding_columns, seed=config.seed)
    # from the columns the split uses, so a changed lab value does not rewrite an unchanged split
    version = fingerprint(frame_fingerprint(frame), str(config.seed), CODE_VERSION)
    parquet_path = features_dir(artifacts) / "splits.parquet"
    with warehouse.transaction() as conn:
        written = recorded_fingerprint(conn, SPLITS_TABLE) != version
        if written:
            replace_table(conn, SPLITS_TABLE, table, version)
    if written or parquet_fingerprint(parquet_path) != version:
        write_parquet(
            parquet_path,
            table,
            {name: {b"description": text.encode()} for name, text in SPLIT_DESCRIPTIONS.items()},
            {"cardioml.table": SPLITS_TABLE, "cardioml.fingerprint": version, "cardioml.seed": str(config.seed)},
        )
    summary = split_summary(table)
    leaks = leaking_groups(table)
    shares = dict(zip(summary["split"].to_list(), summary["share"].to_list()))
    worst = max(abs(shares.get(name, 0.0) - target) for name, target in zip(SPLITS, FRACTIONS))
    strata = table.group_by("stratum", "split").len().pivot(on="split", index="stratum", values="len").fill_null(0)
    strata = strata.select("stratum", *[c for c in SPLITS if c in strata.columns]).sort("stratum")
    lineage = dg.TableColumnLineage(
        deps_by_column={
            "file_number": [dg.TableColumnDep(PATIENT_FEATURES_KEY, "file_number")],
            "record_number": [dg.TableColumnDep(PATIENT_FEATURES_KEY, "record_number")],
            "group_key": [dg.TableColumnDep(PATIENT_FEATURES_KEY, c) for c in ("file_number", "record_number")],
            "stratum": [dg.TableColumnDep(PATIENT_FEATURES_KEY, c) for c in finding_columns],
            "split": [dg.TableColumnDep(PATIENT_FEATURES_KEY, c) for c in ("record_number", "outcome_death", *finding_columns)],
        }
    )
    metadata = table_metadata(table, SPLITS_TABLE, warehouse.path, SPLIT_DESCRIPTIONS, lineage)
    metadata.update(
        {
            "parquet": dg.MetadataValue.path(str(parquet_path)),
            "seed": config.seed,
            "summary": dg.MetadataValue.md(markdown_table(summary, max_rows=3)),
            "strata": dg.MetadataValue.md(markdown_table(strata, max_rows=50)),
            "rewritten": written,
        }
    )
    context.log.info(f"{SPLITS_TABLE}: " + ", ".join(f"{r['split']} {r['patients']}" for r in summary.iter_rows(named=True)))
    checks = [
        dg.AssetCheckResult(check_name="no_record_number_in_two_splits", passed=leaks.height == 0, metadata={"leaking_record_numbers": leaks.height}),
        dg.AssetCheckResult(check_name="proportions_70_15_15", passed=worst <= 0.02, metadata={"largest_deviation": round(worst, 4), **{f"share_{k}": round(v, 4) for k, v in shares.items()}}),
    ]
    return dg.MaterializeResult(metadata=metadata, check_results=checks, data_version=dg.DataVersion(version))


# ---------------------------------------------------------------------------------------------
# Feature dictionary


DICTIONARY_CHECKS = [
    dg.AssetCheckSpec("matches_lineage", asset=DICTIONARY_KEY, description="every feature column is documented and its source columns equal its column lineage"),
]


@dg.asset(
    key=DICTIONARY_KEY,
    deps=[PATIENT_FEATURES_KEY],
    group_name=GROUP,
    kinds={"duckdb", "polars", "parquet"},
    pool=WRITER_POOL,
    code_version=CODE_VERSION,
    check_specs=DICTIONARY_CHECKS,
    description="`features.feature_dictionary`: name, dtype, role, group, unit, description, formula, source tables and columns, missing rate and the baseline feature sets (ecg, clinical, clinical+ecg, triage) of every column of features.patient_features.",
)
def feature_dictionary(warehouse: WarehouseResource, artifacts: ArtifactStoreResource) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        features_version = recorded_fingerprint(conn, FEATURES_TABLE)
        if features_version is None:
            raise dg.Failure(f"{FEATURES_TABLE} has not been built: materialize it first")
        frame = read_table(conn, FEATURES_TABLE)
    dictionary = registry.build_feature_dictionary(frame)
    version = fingerprint(frame_fingerprint(dictionary), CODE_VERSION)
    parquet_path = features_dir(artifacts) / "feature_dictionary.parquet"
    with warehouse.transaction() as conn:
        written = recorded_fingerprint(conn, DICTIONARY_TABLE) != version
        if written:
            replace_table(conn, DICTIONARY_TABLE, dictionary, version)
    if written or parquet_fingerprint(parquet_path) != version:
        write_parquet(parquet_path, dictionary, {}, {"cardioml.table": DICTIONARY_TABLE, "cardioml.fingerprint": version})
    from_dictionary = registry.dictionary_pairs(dictionary)
    from_lineage = registry.lineage_pairs(registry.column_lineage(frame.columns))
    mismatched = sorted(name for name in frame.columns if from_dictionary.get(name) != from_lineage.get(name))
    undocumented = dictionary.filter(pl.col("description").is_null())["name"].to_list()
    metadata = table_metadata(dictionary, DICTIONARY_TABLE, warehouse.path, preview_columns=["name", "dtype", "unit", "formula", "missing_rate"])
    metadata.update({"parquet": dg.MetadataValue.path(str(parquet_path)), "features_documented": dictionary.height, "rewritten": written})
    check = dg.AssetCheckResult(
        check_name="matches_lineage",
        passed=not mismatched and not undocumented,
        metadata={"mismatched_columns": ", ".join(mismatched) or "none", "undocumented_columns": ", ".join(undocumented) or "none"},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check], data_version=dg.DataVersion(version))


# ---------------------------------------------------------------------------------------------
# Baseline


@dg.asset(
    key=BASELINE_KEY,
    deps=[PATIENT_FEATURES_KEY, SPLITS_KEY],
    group_name=GROUP,
    kinds={"duckdb", "scikitlearn"},
    pool=WRITER_POOL,
    code_version=CODE_VERSION,
    description=(
        "`features.baseline_metrics`: per target, a HistGradientBoostingClassifier and an L2 logistic regression trained "
        "on the train split, the one with the better validation AUROC scored on the test split: test "
        "AUROC (with a Hanley-McNeil 95 % interval), AUPRC and prevalence; targets with fewer than 10 test positives "
        "are judged by repeated stratified cross-validation instead (`evaluation`, `auroc`, `cv_*`). ECG findings from "
        "ECG features alone; the triage diagnosis from what is known at triage (demographics, triage vitals, history); "
        "death and final diagnosis from clinical (and clinical + ECG) features. Tasks that cannot be "
        "evaluated are listed as skipped with the reason."
    ),
)
def baseline_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    with warehouse.connect() as conn:
        features_version = recorded_fingerprint(conn, FEATURES_TABLE)
        splits_version = recorded_fingerprint(conn, SPLITS_TABLE)
        if features_version is None or splits_version is None:
            raise dg.Failure(f"{FEATURES_TABLE} and {SPLITS_TABLE} must be built first")
        version = fingerprint(features_version, splits_version, CODE_VERSION)
        unchanged = recorded_fingerprint(conn, BASELINE_TABLE) == version
        if unchanged:
            metrics = read_table(conn, BASELINE_TABLE)
        else:
            frame = read_table(conn, FEATURES_TABLE)
            split_table = read_table(conn, SPLITS_TABLE)
    if not unchanged:
        seed = int(split_table["seed"][0]) if split_table.height else DEFAULT_SEED
        metrics = run_baseline(frame, split_table, registry.feature_specs(), seed)
        with warehouse.transaction() as conn:
            replace_table(conn, BASELINE_TABLE, metrics, version)
    elapsed = time.perf_counter() - started
    evaluated = metrics.filter(pl.col("status") == "evaluated")
    skipped = metrics.filter(pl.col("status") == "skipped")
    metadata = table_metadata(metrics, BASELINE_TABLE, warehouse.path, BASELINE_DESCRIPTIONS, preview_columns=["target", "feature_set", "status", "evaluation", "n_test_positives", "auroc", "test_auroc", "test_auprc"])
    metadata["preview"] = dg.MetadataValue.md(
        markdown_table(
            evaluated.select(
                "target", "feature_set", "evaluation", "n_positives", pl.col("auroc").round(3), pl.col("auroc_ci_low").round(3), pl.col("auroc_ci_high").round(3), pl.col("auprc").round(3), pl.col("prevalence").round(3),
                "n_test_positives", pl.col("test_auroc").round(3),
            ),
            max_rows=100,
        )
        if evaluated.height
        else "no task could be evaluated"
    )
    metadata["skipped"] = dg.MetadataValue.md(markdown_table(skipped.select("target", "feature_set", "reason"), max_rows=100, max_width=120) if skipped.height else "none")
    for row in evaluated.iter_rows(named=True):
        name = f"{row['target']}[{row['feature_set']}]"
        metadata[f"auroc {name}"] = dg.MetadataValue.float(round(row["auroc"], 4))
        if row["test_auroc"] is not None:  # null under cross-validation when the test split has no positive
            metadata[f"test_auroc {name}"] = dg.MetadataValue.float(round(row["test_auroc"], 4))
            metadata[f"test_auprc {name}"] = dg.MetadataValue.float(round(row["test_auprc"], 4))
    metadata.update({"tasks_evaluated": evaluated.height, "tasks_skipped": skipped.height, "retrained": not unchanged, "seconds": round(elapsed, 2)})
    context.log.info(f"{BASELINE_TABLE}: {evaluated.height} tasks evaluated, {skipped.height} skipped ({elapsed:.1f}s)")
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(version))


def features_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[ecg_lead_features, patient_features, splits, feature_dictionary, baseline_metrics])
