"""The feature registry: every column of `features.patient_features` with dtype, unit, description,
formula and source columns. The dictionary table, the Parquet field metadata and the Dagster column
lineage are all generated from it, so they cannot disagree."""

from __future__ import annotations

import dagster as dg
import polars as pl

from cardioml_pipeline.features.baseline import spec_feature_sets
from cardioml_pipeline.features.clinical import clinical_feature_specs
from cardioml_pipeline.features.ecg import COUNT_COLUMNS, GLOBAL_MEASURES, LEAD_MEASURES, LEADS, SUMMARIES, MEASURES_BY_NAME, lead_column
from cardioml_pipeline.features.spec import FeatureSpec, asset_key_path
from cardioml_pipeline.features.targets import target_specs

SIGNALS = "staging.ecg_signals"

DICTIONARY_SCHEMA: dict[str, pl.DataType] = {
    "name": pl.String,
    "dtype": pl.String,
    "role": pl.String,
    "feature_group": pl.String,
    "unit": pl.String,
    "description": pl.String,
    "formula": pl.String,
    "source_tables": pl.List(pl.String),
    "source_columns": pl.List(pl.String),
    "missing_rate": pl.Float64,
    "baseline_feature_sets": pl.List(pl.String),
}


def ecg_feature_specs() -> list[FeatureSpec]:
    summary_sources = tuple((SIGNALS, c) for c in ("lead", "signal_mv", "sampling_rate_hz", "qc_passed"))
    specs = [
        FeatureSpec("ecg_leads_available", pl.Int32, "feature", "ecg", COUNT_COLUMNS["ecg_leads_available"], ((SIGNALS, "lead"),), unit="leads", formula="count of the patient's signal rows"),
        FeatureSpec("ecg_leads_passed", pl.Int32, "feature", "ecg", COUNT_COLUMNS["ecg_leads_passed"], summary_sources, unit="leads", formula="sum of ecg_<lead>_qc_passed"),
    ]
    for name, (measure, how, description) in SUMMARIES.items():
        if how == "global":  # measured on all QC-passed leads together (features.ecg_measure)
            unit, detail, formula = GLOBAL_MEASURES[measure]
            specs.append(FeatureSpec(name, pl.Float64, "feature", "ecg", f"{description} {detail}", summary_sources, unit=unit, formula=f"{formula} (all QC-passed leads together)"))
            continue
        m = MEASURES_BY_NAME[measure]
        specs.append(FeatureSpec(name, pl.Float64, "feature", "ecg", description, summary_sources, unit=m.unit, formula=f"{how} over QC-passed leads of ecg_<lead>_{measure}"))
    for lead in LEADS:
        for m in LEAD_MEASURES:
            specs.append(
                FeatureSpec(lead_column(lead, m.name), m.dtype, "feature", "ecg_lead", f"Lead {lead}: {m.description}", tuple((SIGNALS, c) for c in m.inputs), unit=m.unit, formula=m.formula)
            )
    return specs


def feature_specs() -> list[FeatureSpec]:
    """All columns of features.patient_features, in table order."""
    specs = clinical_feature_specs() + ecg_feature_specs() + target_specs()
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"feature names defined twice: {sorted(duplicates)}")
    return specs


def specs_by_name() -> dict[str, FeatureSpec]:
    return {s.name: s for s in feature_specs()}


def build_feature_dictionary(features: pl.DataFrame) -> pl.DataFrame:
    """One row per column of `features`, with its missing rate in this table."""
    specs = specs_by_name()
    missing = features.null_count().row(0, named=True) if features.width else {}
    rows = []
    height = max(features.height, 1)
    for name, dtype in features.schema.items():
        spec = specs.get(name)
        rows.append(
            {
                "name": name,
                "dtype": str(dtype),
                "role": spec.role if spec else None,
                "feature_group": spec.group if spec else None,
                "unit": spec.unit if spec else None,
                "description": spec.description if spec else None,
                "formula": spec.formula if spec else None,
                "source_tables": spec.source_tables if spec else [],
                "source_columns": spec.source_columns if spec else [],
                "missing_rate": missing.get(name, 0) / height if features.height else None,
                "baseline_feature_sets": spec_feature_sets(spec) if spec else [],
            }
        )
    return pl.DataFrame(rows, schema=DICTIONARY_SCHEMA)


def column_lineage(columns: list[str]) -> dg.TableColumnLineage:
    """`dagster/column_lineage` for the given feature columns (from the registry's sources)."""
    specs = specs_by_name()
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for name in columns:
        spec = specs[name]
        deps[name] = [dg.TableColumnDep(asset_key=dg.AssetKey(list(asset_key_path(table))), column_name=column) for table, column in sorted(set(spec.sources))]
    return dg.TableColumnLineage(deps_by_column=deps)


def lineage_pairs(lineage: dg.TableColumnLineage) -> dict[str, set[str]]:
    """column -> {'<asset key path>.<column>'} (for comparing lineage with the dictionary)."""
    return {
        column: {f"{'/'.join(dep.asset_key.path)}.{dep.column_name}" for dep in deps}
        for column, deps in lineage.deps_by_column.items()
    }


def dictionary_pairs(dictionary: pl.DataFrame) -> dict[str, set[str]]:
    """Same shape as lineage_pairs, from the dictionary's source_columns ('schema.table.column')."""
    out: dict[str, set[str]] = {}
    for row in dictionary.iter_rows(named=True):
        pairs = set()
        for qualified in row["source_columns"] or []:
            schema, table, column = qualified.split(".", 2)
            pairs.add(f"{'/'.join(asset_key_path(f'{schema}.{table}'))}.{column}")
        out[row["name"]] = pairs
    return out


def field_metadata(name: str) -> dict[bytes, bytes]:
    """Parquet field metadata for a feature column: description, unit, formula, sources."""
    spec = specs_by_name().get(name)
    if spec is None:
        return {}
    meta = {b"description": spec.description.encode(), b"role": spec.role.encode(), b"feature_group": spec.group.encode()}
    if spec.unit:
        meta[b"unit"] = spec.unit.encode()
    if spec.formula:
        meta[b"formula"] = spec.formula.encode()
    if spec.sources:
        meta[b"source_columns"] = ", ".join(spec.source_columns).encode()
    return meta


# ---------------------------------------------------------------------------------------------
# The table itself and its validation schema.

# plausible ranges of derived and summary features (a value outside is a bug in the feature code)
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "mean_arterial_pressure": (10.0, 300.0),
    "shock_index": (0.0, 10.0),
    "bun": (0.0, 300.0),
    "bun_creatinine_ratio": (0.0, 500.0),
    "egfr_ckd_epi_2021": (0.0, 250.0),
    "neutrophil_lymphocyte_ratio": (0.0, 1000.0),
    "ecg_heart_rate_bpm": (20.0, 250.0),
    "ecg_pr_ms": (60.0, 400.0),
    "ecg_qrs_ms": (40.0, 250.0),
    "ecg_qt_ms": (200.0, 700.0),
    "ecg_leads_available": (0.0, 12.0),
    "ecg_leads_passed": (0.0, 12.0),
    "ecg_signal_quality": (-1.0, 1.0),
}


def assemble_patient_features(tables: dict[str, pl.DataFrame], lead_table: pl.DataFrame) -> pl.DataFrame:
    """features.patient_features: clinical features, the wide ECG block, targets and outcomes,
    one row per staging.patients file number, columns in registry order."""
    from cardioml_pipeline.features.clinical import build_clinical_features
    from cardioml_pipeline.features.ecg import patient_ecg_features
    from cardioml_pipeline.features.targets import build_targets

    clinical = build_clinical_features(tables)
    ecg = patient_ecg_features(lead_table, clinical["file_number"])
    targets = build_targets(tables["patients"], tables["ecg_labels"])
    frame = clinical.join(ecg, on="file_number", how="left").join(targets, on="file_number", how="left")
    return frame.select([pl.col(s.name).cast(s.dtype) for s in feature_specs()])


def feature_schema():
    """pandera (Polars) schema of features.patient_features: dtypes, unique key, 0/1 flags and
    targets, plausible ranges of derived features."""
    import pandera.polars as pa

    columns = {}
    for spec in feature_specs():
        checks = []
        if spec.dtype == pl.Int8:
            checks.append(pa.Check.isin([0, 1]))
        if spec.name in PLAUSIBLE_RANGES:
            checks.append(pa.Check.in_range(*PLAUSIBLE_RANGES[spec.name]))
        key = spec.name == "file_number"
        columns[spec.name] = pa.Column(spec.dtype, checks=checks, nullable=not key, unique=key)
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name="features.patient_features")


def schema_failures(frame: pl.DataFrame) -> pl.DataFrame:
    """pandera failure cases (empty when the table conforms)."""
    import pandera.polars as pa

    try:
        feature_schema().validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return errors.failure_cases
    return pl.DataFrame()
