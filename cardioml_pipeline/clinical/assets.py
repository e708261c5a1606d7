"""Clinical layer assets: source files -> raw.* (lossless) -> staging.* (typed, validated) ->
quality.quarantine and staging.data_dictionary. Thin wiring over the pure functions beside it."""


import hashlib
import warnings
from pathlib import Path

import dagster as dg
import polars as pl

from cardioml_pipeline.clinical.labels import FINDINGS, LABEL_COLUMNS, findings_vocabulary, stage_ecg_labels
from cardioml_pipeline.clinical.normalize import StagedTable, stage_clinical_table
from cardioml_pipeline.clinical.reading import RAW_META_COLUMNS, SourceFileError, map_header, read_raw_csv
from cardioml_pipeline.clinical.schemas import ECG_LABELS_SCHEMA, quarantine_invalid_rows
from cardioml_pipeline.clinical.tables import ACTION_ROW_EXCLUDED, TABLES, TABLES_BY_RAW, TableSpec
from cardioml_pipeline.clinical.dictionary import build_data_dictionary
from cardioml_pipeline.clinical.copies import DISAGREEMENT_SCHEMA, core_copy_disagreements, validate_core_copies
from cardioml_pipeline.clinical.keys import swapped_key_columns, whole_numbers
from cardioml_pipeline.metadata import markdown_table, row_examples, table_metadata
from cardioml_pipeline.resources import DatasetResource, WarehouseResource
from cardioml_pipeline.warehouse import query_frame, read_table, recorded_fingerprint, replace_rows, replace_table, utc_now

WRITER_POOL = "duckdb_writer"
RAW_CODE_VERSION = "raw-1"
STAGING_CODE_VERSION = "staging-2"  # 2: table 01 copies validated, malformed label keys quarantined
QUARANTINE_TABLE = "quality.quarantine"
LABELS_RAW_TABLE = "ecg_labels"
LABELS_FILE = "ECG Labels.csv"
EXAMPLE_ROWS = 10


def source_key(raw_table: str) -> dg.AssetKey:
    return dg.AssetKey(["source", raw_table])


def raw_key(raw_table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", raw_table])


def staging_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["staging", table])


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------
# Source files, observed so the UI shows which inputs changed (data version = file sha256).


def build_source_asset(raw_table: str, relative_path: str) -> dg.SourceAsset:
    with warnings.catch_warnings():  # observable_source_asset is marked beta; the warning is noise here
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _build_source_asset(raw_table, relative_path)


def _build_source_asset(raw_table: str, relative_path: str) -> dg.SourceAsset:
    @dg.observable_source_asset(
        key=source_key(raw_table),
        group_name="raw",
        description=f"The dataset file `{relative_path}` (observed: data version = its sha256).",
        metadata={"relative_path": relative_path},
    )
    def _observe(dataset: DatasetResource) -> dg.ObserveResult:
        path = dataset.root / relative_path
        if not path.exists():
            return dg.ObserveResult(data_version=dg.DataVersion("missing"), metadata={"path": str(path), "exists": False})
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return dg.ObserveResult(
            data_version=dg.DataVersion(digest),
            metadata={"path": dg.MetadataValue.path(str(path)), "sha256": digest, "bytes": path.stat().st_size},
        )

    return _observe


# ---------------------------------------------------------------------------------------------
# Raw layer: lossless text copies.


def load_raw_file(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    path: Path,
    raw_table: str,
    header: bool,
    column_names: list[str] | None = None,
    spec: TableSpec | None = None,
) -> dg.MaterializeResult:
    table_name = f"raw.{raw_table}"
    raw = read_raw_csv(path, utc_now().isoformat(), has_header=header, column_names=column_names)
    unknown: list[str] = []
    if spec is not None:
        unknown = map_header(spec, raw.frame.columns, path, known_headers=all_clinical_headers()).unknown_columns
        if unknown:
            context.log.warning(f"{path.name}: columns not in the contract, kept in {table_name} only: {unknown}")
    version = fingerprint(raw.sha256, RAW_CODE_VERSION)
    with warehouse.transaction() as conn:
        unchanged = recorded_fingerprint(conn, table_name) == version
        if not unchanged:
            replace_table(conn, table_name, raw.frame, version)
    staged_name = TABLES_BY_RAW[raw_table].staging_table if raw_table in TABLES_BY_RAW else raw_table
    shrink_check = no_unconfirmed_shrink(warehouse, table_name, raw.frame.height, path, confirm=",".join(dict.fromkeys([raw_table, staged_name])))
    context.log.info(f"{table_name}: {'unchanged, not rewritten' if unchanged else 'written'} ({raw.frame.height} rows from {path.name})")
    metadata = table_metadata(raw.frame, table_name, warehouse.path, preview_columns=[c for c in raw.frame.columns if c not in RAW_META_COLUMNS][:8])
    metadata.update(
        {
            "source_file": dg.MetadataValue.path(str(path)),
            "source_sha256": raw.sha256,
            "encoding": raw.encoding,
            "line_ending": raw.line_ending,
            "rewritten": not unchanged,
            "unknown_columns": unknown,
            "short_rows": int((raw.frame["_field_count"] < len([c for c in raw.frame.columns if c not in RAW_META_COLUMNS])).sum()),
        }
    )
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(version), check_results=[shrink_check])


SHRINK_CHECK = "no_unconfirmed_shrink"


def shrink_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        SHRINK_CHECK,
        asset=key,
        blocking=True,
        description="the table has not lost more than the allowed share of its rows (CARDIOML_MAX_SHRINK_SHARE, default 10 %) against the last published snapshot, unless confirmed (CARDIOML_ALLOW_SHRINK); blocks everything downstream, and so publishing",
    )


def no_unconfirmed_shrink(warehouse: WarehouseResource, table_name: str, rows: int, path: Path, confirm: str | None = None) -> dg.AssetCheckResult:
    """A partly written input (a copy still running, a truncated export) loads fine but loses rows:
    compared with the last published snapshot, more than the allowed share fewer rows fails this
    blocking check, so nothing downstream runs and the run publishes nothing."""
    from cardioml_pipeline.publication import shrink_allowed, shrink_problem

    published = warehouse.published_row_counts([table_name]).get(table_name)
    allowed = warehouse.shrink_allowed
    problem = shrink_problem(table_name, published, rows, warehouse.shrink_share, allowed, confirm)
    metadata = {
        "rows": rows,
        "published_rows": published if published is not None else -1,
        "max_shrink_share": warehouse.shrink_share,
        "shrink_confirmed": bool(published and rows < published and shrink_allowed(table_name, allowed)),
    }
    return dg.AssetCheckResult(
        check_name=SHRINK_CHECK,
        passed=problem is None,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{path.name}: {problem}" if problem else "no unconfirmed shrink against the last published snapshot",
        metadata=metadata,
    )


def all_clinical_headers() -> set[str]:
    """Every header named by any table spec: table 01 repeats the other tables' columns."""
    return {col.source for spec in TABLES for col in spec.columns}


def build_raw_asset(spec: TableSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(spec.raw_table),
        deps=[source_key(spec.raw_table)],
        group_name="raw",
        kinds={"duckdb", "csv"},
        pool=WRITER_POOL,
        code_version=RAW_CODE_VERSION,
        check_specs=[shrink_check_spec(raw_key(spec.raw_table))],
        description=f"`raw.{spec.raw_table}`: `Clinical_Data/{spec.source_file}` loaded losslessly (every value as text, header names as published, a repeated name suffixed ' (2)'), plus _source_file, _source_sha256, _row_number, _ingested_at, _field_count, _extra_fields.",
    )
    def _raw(context: dg.AssetExecutionContext, dataset: DatasetResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
        return load_raw_file(context, warehouse, dataset.clinical_dir / spec.source_file, spec.raw_table, header=True, spec=spec)

    return _raw


@dg.asset(
    key=raw_key(LABELS_RAW_TABLE),
    deps=[source_key(LABELS_RAW_TABLE)],
    group_name="raw",
    kinds={"duckdb", "csv"},
    pool=WRITER_POOL,
    code_version=RAW_CODE_VERSION,
    check_specs=[shrink_check_spec(raw_key(LABELS_RAW_TABLE))],
    description="`raw.ecg_labels`: `ECG Labels.csv` (no header in the source) loaded losslessly as `ecg_key`, `label_text`, plus the raw meta columns.",
)
def raw_ecg_labels(context: dg.AssetExecutionContext, dataset: DatasetResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    return load_raw_file(context, warehouse, dataset.labels_file, LABELS_RAW_TABLE, header=False, column_names=LABEL_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Staging layer.


def quarantine_checks(table: str, staged_rows: int, raw_rows: int, quarantine: pl.DataFrame) -> list[dg.AssetCheckResult]:
    value_failures = quarantine.height
    by_reason = (
        quarantine.group_by("column_name", "reason", "action").len("failures").sort("failures", descending=True)
        if value_failures
        else quarantine
    )
    excluded = quarantine.filter(pl.col("action") == ACTION_ROW_EXCLUDED)["_row_number"].n_unique()
    return [
        dg.AssetCheckResult(
            check_name="schema_validation",
            passed=value_failures == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description="pandera schema (dtypes, plausible ranges, allowed categories, unique key): failures are quarantined",
            metadata={
                "failure_count": value_failures,
                "rows_excluded": excluded,
                "failures_by_column": dg.MetadataValue.md(markdown_table(by_reason, max_rows=50) if value_failures else "none"),
                **row_examples(quarantine.select("_row_number", "column_name", "value", "reason"), EXAMPLE_ROWS),
            },
        ),
        dg.AssetCheckResult(
            check_name="every_raw_row_accounted",
            passed=staged_rows + excluded == raw_rows,
            description="staged rows + quarantined (excluded) rows = raw rows",
            metadata={"raw_rows": raw_rows, "staged_rows": staged_rows, "excluded_rows": excluded},
        ),
    ]


def write_staged(warehouse: WarehouseResource, table: str, staged: pl.DataFrame, quarantine: pl.DataFrame, version: str) -> bool:
    """Write the staged table and its quarantine rows in one transaction; False if unchanged."""
    table_name = f"staging.{table}"
    with warehouse.transaction() as conn:
        if recorded_fingerprint(conn, table_name) == version:
            return False
        replace_table(conn, table_name, staged, version)
        replace_rows(conn, QUARANTINE_TABLE, quarantine, "table_name", table)
    return True


def read_raw(warehouse: WarehouseResource, raw_table: str) -> tuple[pl.DataFrame, str]:
    table_name = f"raw.{raw_table}"
    with warehouse.connect() as conn:
        input_version = recorded_fingerprint(conn, table_name)
        if input_version is None:
            raise dg.Failure(f"{table_name} has not been loaded: materialize it first")
        return read_table(conn, table_name), input_version


def staging_lineage(spec: TableSpec, source_columns: dict[str, str]) -> dg.TableColumnLineage:
    upstream = raw_key(spec.raw_table)
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for col in spec.columns:
        dep = [dg.TableColumnDep(asset_key=upstream, column_name=source_columns[col.name])]
        deps[col.name] = dep
        if col.kind == "censored_float":
            deps[f"{col.name}_censored"] = dep
    for name in spec.derived:
        deps[name] = [
            dg.TableColumnDep(asset_key=upstream, column_name=source_columns["file_number"]),
            dg.TableColumnDep(asset_key=upstream, column_name=source_columns["record_number"]),
        ]
    deps["_row_number"] = [dg.TableColumnDep(asset_key=upstream, column_name="_row_number")]
    return dg.TableColumnLineage(deps_by_column=deps)


CORE_RAW_TABLE = "core_patient_data"


def _source_name(raw: pl.DataFrame, spec: TableSpec) -> str:
    files = raw["_source_file"].drop_nulls().unique().to_list() if "_source_file" in raw.columns else []
    return files[0] if len(files) == 1 else f"Clinical_Data/{spec.source_file}"


def core_key_pairs(warehouse: WarehouseResource) -> pl.DataFrame | None:
    """Table 01's (file_number, record_number) pairs as last loaded into raw, the reference the
    other tables' key columns are checked against; None when it is not loaded or itself looks
    swapped."""
    from cardioml_pipeline.clinical.tables import TABLES_BY_RAW

    with warehouse.connect() as conn:
        if not _exists(conn, "raw", CORE_RAW_TABLE):
            return None
        core = read_table(conn, f"raw.{CORE_RAW_TABLE}")
    try:
        mapping = map_header(TABLES_BY_RAW[CORE_RAW_TABLE], core.columns, Path(f"raw.{CORE_RAW_TABLE}"), known_headers=all_clinical_headers())
    except SourceFileError:
        return None
    first, second = core[mapping.source_columns["file_number"]], core[mapping.source_columns["record_number"]]
    if swapped_key_columns("table 01", first, second) is not None:
        return None
    return pl.DataFrame({"file_number": whole_numbers(first), "record_number": whole_numbers(second)})


def build_staging_asset(spec: TableSpec) -> dg.AssetsDefinition:
    key = staging_key(spec.staging_table)
    checks = [
        dg.AssetCheckSpec("schema_validation", asset=key, description="pandera schema failures (quarantined)"),
        dg.AssetCheckSpec("every_raw_row_accounted", asset=key, description="staged + quarantined rows = raw rows"),
    ]
    if "record_number_shared" in spec.derived:
        checks.append(dg.AssetCheckSpec("shared_record_numbers", asset=key, description="record numbers shared by several file numbers"))

    @dg.asset(
        key=key,
        deps=[raw_key(spec.raw_table)],
        group_name="staging",
        kinds={"duckdb", "polars", "pandera"},
        pool=WRITER_POOL,
        code_version=STAGING_CODE_VERSION,
        check_specs=checks,
        automation_condition=dg.AutomationCondition.eager(),
        description=f"`staging.{spec.staging_table}`: {spec.description} Typed, snake_case, keyed by file_number; values failing validation are nulled and listed in quality.quarantine.",
    )
    def _staging(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        raw, input_version = read_raw(warehouse, spec.raw_table)
        try:
            mapping = map_header(spec, raw.columns, Path(f"raw.{spec.raw_table}"), known_headers=all_clinical_headers())
        except SourceFileError as error:
            raise dg.Failure(str(error)) from error
        problem = swapped_key_columns(
            _source_name(raw, spec),
            raw[mapping.source_columns["file_number"]],
            raw[mapping.source_columns["record_number"]],
            None if spec.raw_table == CORE_RAW_TABLE else core_key_pairs(warehouse),
        )
        if problem:
            raise dg.Failure(problem)
        result: StagedTable = stage_clinical_table(spec, raw, mapping)
        if spec.raw_table == CORE_RAW_TABLE:  # table 01's copies of tables 02-10, checked with their specs
            copies = validate_core_copies(raw, all_clinical_headers())
            if copies.height:
                result.quarantine = pl.concat([result.quarantine, copies], how="vertical")
        version = fingerprint(input_version, STAGING_CODE_VERSION)
        written = write_staged(warehouse, spec.staging_table, result.staged, result.quarantine, version)
        context.log.info(
            f"staging.{spec.staging_table}: {result.staged.height} rows staged, {result.excluded_rows} excluded, "
            f"{result.quarantine.height} quarantine entries ({'written' if written else 'unchanged, not rewritten'})"
        )
        check_results = quarantine_checks(spec.staging_table, result.staged.height, raw.height, result.quarantine)
        if "record_number_shared" in spec.derived:
            check_results.append(shared_record_number_check(result.staged))
        descriptions = {c.name: c.description for c in spec.columns} | {k: v[1] for k, v in spec.derived.items()}
        metadata = table_metadata(
            result.staged, f"staging.{spec.staging_table}", warehouse.path, descriptions, staging_lineage(spec, mapping.source_columns)
        )
        metadata.update({"quarantine_entries": result.quarantine.height, "rows_excluded": result.excluded_rows, "rewritten": written})
        return dg.MaterializeResult(metadata=metadata, check_results=check_results, data_version=dg.DataVersion(version))

    return _staging


def shared_record_number_check(patients: pl.DataFrame) -> dg.AssetCheckResult:
    shared = patients.filter(pl.col("record_number_shared"))
    return dg.AssetCheckResult(
        check_name="shared_record_numbers",
        passed=shared.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows_flagged": shared.height,
            "record_numbers": shared["record_number"].n_unique(),
            **row_examples(shared.select("file_number", "record_number", "gender", "age").sort("record_number"), EXAMPLE_ROWS),
        },
        description="record numbers carried by more than one file number (flagged in record_number_shared)",
    )


LABELS_KEY = staging_key("ecg_labels")


@dg.asset(
    key=LABELS_KEY,
    deps=[raw_key(LABELS_RAW_TABLE), staging_key("patients")],
    group_name="staging",
    kinds={"duckdb", "polars", "pandera"},
    pool=WRITER_POOL,
    code_version=STAGING_CODE_VERSION,
    check_specs=[
        dg.AssetCheckSpec("schema_validation", asset=LABELS_KEY, description="pandera schema failures (quarantined)"),
        dg.AssetCheckSpec("every_raw_row_accounted", asset=LABELS_KEY, description="every raw label row staged or quarantined"),
        dg.AssetCheckSpec("unmatched_record_numbers", asset=LABELS_KEY, description="ECG keys whose record number matches no patient"),
        dg.AssetCheckSpec("all_labels_mapped", asset=LABELS_KEY, description="every label text maps to at least one finding"),
    ],
    automation_condition=dg.AutomationCondition.eager(),
    description="`staging.ecg_labels`: one row per (ECG, patient, finding) with the controlled `finding` vocabulary and SNOMED CT codes (PhysioNet/CinC 2020-21 mapping). file_number is null when the record number matches no patient; a shared record number yields one row per patient.",
)
def staging_ecg_labels(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    raw, input_version = read_raw(warehouse, LABELS_RAW_TABLE)
    with warehouse.connect() as conn:
        patients_version = recorded_fingerprint(conn, "staging.patients")
        if patients_version is None:
            raise dg.Failure("staging.patients has not been loaded: materialize it first")
        patients = query_frame(conn, "SELECT file_number, record_number FROM staging.patients")
    staged, quarantine = stage_ecg_labels(raw, patients)
    staged, failures = quarantine_invalid_rows(ECG_LABELS_SCHEMA, staged, "ecg_labels")
    quarantine = pl.concat([quarantine, *failures], how="vertical")
    version = fingerprint(input_version, patients_version, STAGING_CODE_VERSION)
    written = write_staged(warehouse, "ecg_labels", staged, quarantine, version)
    labelled_rows = staged["_row_number"].n_unique()
    excluded = quarantine.filter(pl.col("action") == ACTION_ROW_EXCLUDED)["_row_number"].n_unique()
    unmatched = staged.filter(pl.col("file_number").is_null()).select("ecg_key").unique().sort("ecg_key")
    linked_rows = staged.filter(pl.col("file_number").is_not_null())["_row_number"].n_unique()
    unmapped = quarantine.filter(pl.col("reason").str.contains("unknown ECG finding|empty ECG label"))
    context.log.info(f"staging.ecg_labels: {staged.height} finding rows from {labelled_rows} label rows; {linked_rows} linked, {unmatched.height} unmatched keys")
    checks = quarantine_checks("ecg_labels", labelled_rows, raw.height, quarantine)
    checks[1] = dg.AssetCheckResult(
        check_name="every_raw_row_accounted",
        passed=labelled_rows + excluded == raw.height,
        metadata={"raw_rows": raw.height, "staged_label_rows": labelled_rows, "excluded_rows": excluded},
    )
    checks.append(
        dg.AssetCheckResult(
            check_name="unmatched_record_numbers",
            passed=unmatched.height == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"unmatched_keys": unmatched.height, "label_rows_linked": linked_rows, "keys": ", ".join(unmatched["ecg_key"].head(50).to_list())},
        )
    )
    checks.append(
        dg.AssetCheckResult(
            check_name="all_labels_mapped",
            passed=unmapped.height == 0,
            metadata={"unmapped_labels": unmapped.height, **row_examples(unmapped.select("_row_number", "value", "reason"), EXAMPLE_ROWS)},
        )
    )
    upstream = raw_key(LABELS_RAW_TABLE)
    key_dep = [dg.TableColumnDep(asset_key=upstream, column_name="ecg_key")]
    text_dep = [dg.TableColumnDep(asset_key=upstream, column_name="label_text")]
    lineage = dg.TableColumnLineage(
        deps_by_column={
            "ecg_key": key_dep,
            "record_number": key_dep,
            "ecg_index": key_dep,
            "file_number": [*key_dep, dg.TableColumnDep(asset_key=staging_key("patients"), column_name="record_number"), dg.TableColumnDep(asset_key=staging_key("patients"), column_name="file_number")],
            "label_text": text_dep,
            "finding": text_dep,
            "snomed_ct_code": text_dep,
            "abbreviation": text_dep,
            "_row_number": [dg.TableColumnDep(asset_key=upstream, column_name="_row_number")],
        }
    )
    metadata = table_metadata(staged, "staging.ecg_labels", warehouse.path, lineage=lineage)
    metadata.update({"label_rows_linked": linked_rows, "unmatched_keys": unmatched.height, "patients_with_label": staged["file_number"].drop_nulls().n_unique(), "rewritten": written})
    return dg.MaterializeResult(metadata=metadata, check_results=checks, data_version=dg.DataVersion(version))


@dg.asset(
    key=staging_key("ecg_findings"),
    group_name="staging",
    kinds={"duckdb"},
    pool=WRITER_POOL,
    code_version=STAGING_CODE_VERSION,
    description="`staging.ecg_findings`: the controlled vocabulary of ECG findings with SNOMED CT codes and abbreviations.",
)
def staging_ecg_findings(warehouse: WarehouseResource) -> dg.MaterializeResult:
    vocabulary = findings_vocabulary()
    version = fingerprint(*(f"{f.code}:{f.snomed_ct_code}" for f in FINDINGS), STAGING_CODE_VERSION)
    with warehouse.transaction() as conn:
        if recorded_fingerprint(conn, "staging.ecg_findings") != version:
            replace_table(conn, "staging.ecg_findings", vocabulary, version)
    return dg.MaterializeResult(metadata=table_metadata(vocabulary, "staging.ecg_findings", warehouse.path), data_version=dg.DataVersion(version))


COPIES_KEY = dg.AssetKey(["quality", "table_01_copies"])
COPIES_TABLE = "quality.table_01_disagreements"


@dg.asset(
    key=COPIES_KEY,
    deps=[raw_key(spec.raw_table) for spec in TABLES],
    group_name="staging",
    kinds={"duckdb", "polars"},
    pool=WRITER_POOL,
    code_version=STAGING_CODE_VERSION,
    check_specs=[dg.AssetCheckSpec("table_01_copies_agree", asset=COPIES_KEY, description="table 01's copies of the columns of tables 02-10 agree with those tables")],
    description=f"`{COPIES_TABLE}`: every cell where table 01's copy of a column of tables 02-10 disagrees with the source table, both typed with the source's spec (file_number, table_name, column_name, table_01_value, source_value). Impossible values in the copies are quarantined by staging/patients (action `copy_not_staged`).",
)
def table_01_copies(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        loaded = {spec.raw_table: recorded_fingerprint(conn, f"raw.{spec.raw_table}") for spec in TABLES}
        if loaded[CORE_RAW_TABLE] is None:
            raise dg.Failure(f"raw.{CORE_RAW_TABLE} has not been loaded: materialize it first")
        raws = {name: read_table(conn, f"raw.{name}") for name, version in loaded.items() if version is not None}
    core = raws.pop(CORE_RAW_TABLE)
    disagreements, compared, formatting_only = core_copy_disagreements(core, raws, all_clinical_headers())
    version = fingerprint(*(f"{name}:{version}" for name, version in sorted(loaded.items()) if version), STAGING_CODE_VERSION)
    with warehouse.transaction() as conn:
        written = recorded_fingerprint(conn, COPIES_TABLE) != version
        if written:
            conn.execute("CREATE SCHEMA IF NOT EXISTS quality")
            replace_table(conn, COPIES_TABLE, disagreements, version)
    by_column = disagreements.group_by("table_name", "column_name").len("cells").sort("cells", descending=True) if disagreements.height else None
    context.log.info(f"{COPIES_TABLE}: {disagreements.height} of {compared} compared cells disagree ({formatting_only} more differ only in formatting)")
    check_metadata: dict[str, object] = {
        "cells_compared": compared,
        "cells_disagreeing": disagreements.height,
        "cells_differing_only_in_formatting": formatting_only,
        "tables_compared": ", ".join(sorted(raws)) or "none",
        "by_column": dg.MetadataValue.md(markdown_table(by_column, max_rows=50) if by_column is not None else "none"),
    }
    check_metadata.update(row_examples(disagreements, EXAMPLE_ROWS))
    missing = sorted(name for name, version in loaded.items() if version is None)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": disagreements.height, "dagster/table_name": COPIES_TABLE, "rewritten": written, "tables_not_loaded": ", ".join(missing) or "none"},
        check_results=[
            dg.AssetCheckResult(
                check_name="table_01_copies_agree",
                passed=disagreements.height == 0,
                severity=dg.AssetCheckSeverity.WARN,
                description="cells where table 01 and the source table disagree after typing (a value in one and not the other counts)",
                metadata=check_metadata,
            )
        ],
        data_version=dg.DataVersion(version),
    )


STAGED_KEYS = [staging_key(spec.staging_table) for spec in TABLES] + [LABELS_KEY]
QUARANTINE_KEY = dg.AssetKey(["quality", "quarantine"])


@dg.asset(
    key=QUARANTINE_KEY,
    deps=STAGED_KEYS,
    group_name="staging",
    kinds={"duckdb"},
    check_specs=[dg.AssetCheckSpec("every_raw_row_accounted", asset=QUARANTINE_KEY, description="for every table: raw rows = staged rows + excluded rows")],
    automation_condition=dg.AutomationCondition.eager(),
    description="`quality.quarantine`: every value or row that failed validation (table_name, file_number, _row_number, column_name, value, reason, action). Rows are written by each staging asset in the same transaction as its table; this asset reconciles and summarizes them.",
)
def quality_quarantine(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS quality")
        quarantine = query_frame(conn, 
            "SELECT * FROM quality.quarantine" if _exists(conn, "quality", "quarantine") else "SELECT NULL::VARCHAR AS table_name WHERE false"
        )
        reconciliation = reconcile(conn)
    by_table = quarantine.group_by("table_name", "action").len("entries").sort("table_name") if quarantine.height else quarantine
    unbalanced = reconciliation.filter(~pl.col("balanced"))
    metadata = table_metadata(quarantine, QUARANTINE_TABLE, warehouse.path) if quarantine.width > 1 else {"dagster/row_count": 0}
    metadata["entries_by_table"] = dg.MetadataValue.md(markdown_table(by_table, max_rows=100) if quarantine.height else "none")
    metadata["reconciliation"] = dg.MetadataValue.md(markdown_table(reconciliation, max_rows=100))
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name="every_raw_row_accounted",
                passed=unbalanced.height == 0,
                metadata={"tables_checked": reconciliation.height, "unbalanced_tables": ", ".join(unbalanced["staging_table"].to_list()) or "none"},
            )
        ],
    )


def _exists(conn, schema: str, table: str) -> bool:
    return bool(conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]).fetchall()[0][0])


def reconcile(conn) -> pl.DataFrame:
    """Per staged table: raw rows, staged rows, excluded rows, and whether they add up."""
    pairs = [(spec.raw_table, spec.staging_table) for spec in TABLES] + [(LABELS_RAW_TABLE, "ecg_labels")]
    rows = []
    has_quarantine = _exists(conn, "quality", "quarantine")
    for raw_table, staging_table in pairs:
        if not (_exists(conn, "raw", raw_table) and _exists(conn, "staging", staging_table)):
            continue
        raw_rows = conn.execute(f'SELECT count(*) FROM raw."{raw_table}"').fetchall()[0][0]
        staged = conn.execute(f'SELECT count(DISTINCT _row_number) FROM staging."{staging_table}"').fetchall()[0][0]
        excluded = (
            conn.execute(
                "SELECT count(DISTINCT _row_number) FROM quality.quarantine WHERE table_name = ? AND action = ?",
                [staging_table, ACTION_ROW_EXCLUDED],
            ).fetchall()[0][0]
            if has_quarantine
            else 0
        )
        rows.append({"staging_table": staging_table, "raw_rows": raw_rows, "staged_rows": staged, "excluded_rows": excluded, "balanced": raw_rows == staged + excluded})
    return pl.DataFrame(rows, schema={"staging_table": pl.String, "raw_rows": pl.Int64, "staged_rows": pl.Int64, "excluded_rows": pl.Int64, "balanced": pl.Boolean})


@dg.asset(
    key=staging_key("data_dictionary"),
    deps=STAGED_KEYS,
    group_name="staging",
    kinds={"duckdb"},
    pool=WRITER_POOL,
    code_version=STAGING_CODE_VERSION,
    automation_condition=dg.AutomationCondition.eager(),
    description="`staging.data_dictionary`: table, column, dtype, unit, description, source column for every staged column.",
)
def staging_data_dictionary(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        actual = query_frame(conn, 
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'staging'"
        )
    dictionary = build_data_dictionary(actual)
    version = fingerprint(str(dictionary.hash_rows().sum()), STAGING_CODE_VERSION)
    with warehouse.transaction() as conn:
        if recorded_fingerprint(conn, "staging.data_dictionary") != version:
            replace_table(conn, "staging.data_dictionary", dictionary, version)
    return dg.MaterializeResult(metadata=table_metadata(dictionary, "staging.data_dictionary", warehouse.path), data_version=dg.DataVersion(version))


def clinical_definitions() -> dg.Definitions:
    sources = [build_source_asset(spec.raw_table, f"Clinical_Data/{spec.source_file}") for spec in TABLES]
    sources.append(build_source_asset(LABELS_RAW_TABLE, LABELS_FILE))
    assets = [build_raw_asset(spec) for spec in TABLES] + [raw_ecg_labels]
    assets += [build_staging_asset(spec) for spec in TABLES]
    assets += [staging_ecg_labels, staging_ecg_findings, quality_quarantine, staging_data_dictionary, table_01_copies]
    return dg.Definitions(assets=[*sources, *assets])
