"""Settings from CARDIOML_* environment variables, exposed as Dagster resources.

Every path is resolved when a run uses it (not at import), so the same definitions serve the demo
data, the real dataset and test fixtures. An explicit resource field wins over the environment.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

PROJECT_ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA_DIR = "data/demo"
DEFAULT_WAREHOUSE = "data/warehouse/cardioml.duckdb"
DEFAULT_ARTIFACTS_DIR = "data/artifacts"

# DuckDB lets one process hold the file for writing; another writer retries for this long.
WRITER_LOCK_TIMEOUT_S = 120.0
# A reader of the live warehouse (no snapshot published yet, or --live) retries this long.
READER_LOCK_TIMEOUT_S = 30.0
# The read-only copy analysts query, next to the warehouse: cardioml.duckdb -> cardioml.snapshot.duckdb.
SNAPSHOT_SUFFIX = ".snapshot.duckdb"


def resolve_setting(explicit: str | None, env_var: str, default: str) -> Path:
    """The explicit value, else the environment variable, else the default under the project."""
    value = explicit or os.environ.get(env_var) or default
    path = Path(value).expanduser()
    if not path.is_absolute():
        base = PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").exists() else Path.cwd()
        path = base / path
    return path


class DatasetResource(dg.ConfigurableResource):
    """Where the CARDIO-ML dataset lives: `Clinical_Data/`, `ECG_Images/` and `ECG Labels.csv`."""

    data_dir: str | None = Field(
        default=None,
        description="Dataset root. Defaults to $CARDIOML_DATA_DIR, else data/demo in the project.",
    )

    @property
    def root(self) -> Path:
        return resolve_setting(self.data_dir, "CARDIOML_DATA_DIR", DEFAULT_DATA_DIR)

    @property
    def clinical_dir(self) -> Path:
        return self.root / "Clinical_Data"

    @property
    def images_dir(self) -> Path:
        return self.root / "ECG_Images"

    @property
    def labels_file(self) -> Path:
        return self.root / "ECG Labels.csv"


class ArtifactStoreResource(dg.ConfigurableResource):
    """Root folder for processed artifacts (images, Parquet indexes, feature files)."""

    artifacts_dir: str | None = Field(
        default=None,
        description="Artifacts root. Defaults to $CARDIOML_ARTIFACTS_DIR, else data/artifacts.",
    )

    @property
    def root(self) -> Path:
        return resolve_setting(self.artifacts_dir, "CARDIOML_ARTIFACTS_DIR", DEFAULT_ARTIFACTS_DIR)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file analysts query.

    Unlike the stock DuckDBResource it opens read-only connections for readers, and a writer that
    finds the file locked by another process waits and retries instead of failing at once.
    """

    database: str | None = Field(
        default=None,
        description="DuckDB file. Defaults to $CARDIOML_WAREHOUSE, else data/warehouse/cardioml.duckdb.",
    )

    max_shrink_share: float | None = Field(
        default=None,
        description="A table with more than this share of its rows fewer than in the last published snapshot blocks publishing. Defaults to $CARDIOML_MAX_SHRINK_SHARE, else 0.10.",
    )
    allow_shrink: str | None = Field(
        default=None,
        description="Tables confirmed to shrink (comma-separated, e.g. 'raw.urinalysis,staging.urinalysis', or 'all'). Defaults to $CARDIOML_ALLOW_SHRINK.",
    )

    @property
    def path(self) -> Path:
        return resolve_setting(self.database, "CARDIOML_WAREHOUSE", DEFAULT_WAREHOUSE)

    @property
    def shrink_share(self) -> float:
        from cardioml_pipeline.publication import DEFAULT_MAX_SHRINK_SHARE

        if self.max_shrink_share is not None:
            return self.max_shrink_share
        value = os.environ.get("CARDIOML_MAX_SHRINK_SHARE")
        return float(value) if value else DEFAULT_MAX_SHRINK_SHARE

    @property
    def shrink_allowed(self) -> set[str]:
        from cardioml_pipeline.publication import parse_allowed

        return parse_allowed(self.allow_shrink if self.allow_shrink is not None else os.environ.get("CARDIOML_ALLOW_SHRINK"))

    def published_row_counts(self, tables: list[str] | None = None) -> dict[str, int]:
        """schema.table -> rows in the last published snapshot (empty when none is published).
        Reads the snapshot file, which no run ever locks."""
        snapshot = self.snapshot_path
        if not snapshot.exists():
            return {}
        with duckdb.connect(str(snapshot), read_only=True) as conn:
            return _row_counts(conn, tables)

    def shrink_problems(self, conn: duckdb.DuckDBPyConnection, tables: list[str] | None = None) -> list[str]:
        """Tables of the live warehouse (`conn`) that shrank unconfirmed against the snapshot."""
        from cardioml_pipeline.publication import shrink_problems

        published = self.published_row_counts(tables)
        if not published:
            return []
        if tables is None:  # the data tables; quarantine, ledgers and reports may rightly shrink
            tables = [name for name in published if name.startswith(("raw.", "staging.")) and name != "staging.data_dictionary"]
        return shrink_problems(published, _row_counts(conn, tables), self.shrink_share, self.shrink_allowed, tables)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.path
        if read_only and not path.exists():
            raise FileNotFoundError(
                f"warehouse {path} does not exist yet: materialize the assets first"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect_retrying(path, read_only=read_only, timeout_s=WRITER_LOCK_TIMEOUT_S)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short write transaction: committed on success, rolled back on any error."""
        with self.connect() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- Reading while runs write: the published snapshot ------------------------------------
    # A run holds the warehouse file exclusively while it writes, and DuckDB then refuses every
    # other process, read-only or not. So analysts read a snapshot that runs publish atomically when
    # they finish (see publish_snapshot); the live file is only read before the first snapshot exists.

    @property
    def snapshot_path(self) -> Path:
        """The published read-only copy beside the warehouse (`<name>.snapshot.duckdb`)."""
        path = self.path
        return path.with_name(path.stem + SNAPSHOT_SUFFIX)

    @contextmanager
    def read(
        self,
        live: bool = False,
        timeout_s: float = READER_LOCK_TIMEOUT_S,
        restricted: bool = True,
        writable_files: Sequence[Path] = (),
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for analysts. Opens the published snapshot, which no run ever
        locks, so it never waits; with `live=True`, or before any snapshot has been published, opens
        the warehouse itself read-only and retries for up to `timeout_s` while a run holds the lock.

        `restricted` (the default) locks the connection down (see `readonly.lock_down`): no file
        access beyond the database and the Parquet files its views read (plus `writable_files`), no
        ATTACH of another file, no extensions, no settings changes."""
        path = self.path if live or not self.snapshot_path.exists() else self.snapshot_path
        if not path.exists():
            raise FileNotFoundError(f"warehouse {self.path} does not exist yet: materialize the assets first")
        conn = connect_retrying(path, read_only=True, timeout_s=timeout_s)
        try:
            if restricted:
                from cardioml_pipeline.readonly import lock_down

                lock_down(conn, writable_files)
            yield conn
        finally:
            conn.close()

    def publish_snapshot(self, run_id: str | None = None) -> Path:
        """Copy the warehouse to the snapshot, atomically: DuckDB writes a new file (COPY FROM
        DATABASE) while this process holds the write lock, so no run changes anything mid-copy; the
        copy is re-opened and checked, then renamed over the old snapshot. Readers that have the old
        file open keep reading it; new readers get the new one; nobody sees a half-written file.

        Refuses (SnapshotRefused, old snapshot kept) when a registered consistency check fails."""
        target = self.snapshot_path
        with self.connect() as conn:
            problems = [problem for check in _SNAPSHOT_CHECKS for problem in check(conn)]
            problems += self.shrink_problems(conn)  # rows must not vanish from what analysts read unconfirmed
            if problems:
                raise SnapshotRefused(problems)
            for stale in target.parent.glob(f".{target.name}.tmp-*"):
                stale.unlink(missing_ok=True)  # left by a publisher that was killed (we hold the lock)
            temp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            source = conn.execute("SELECT current_database()").fetchall()[0][0]
            tables = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE NOT internal AND NOT temporary").fetchall()[0][0]
            try:
                conn.execute(f"ATTACH '{_sql_string(temp)}' AS __cardioml_snapshot")
                try:
                    conn.execute(f'COPY FROM DATABASE "{source}" TO __cardioml_snapshot')
                    conn.execute("CREATE SCHEMA IF NOT EXISTS __cardioml_snapshot.meta")
                    conn.execute(
                        "CREATE OR REPLACE TABLE __cardioml_snapshot.meta.snapshot AS "
                        "SELECT now() AS published_at, ?::VARCHAR AS run_id, ?::VARCHAR AS warehouse, ?::INTEGER AS tables",
                        [run_id, str(self.path), tables],
                    )
                finally:
                    conn.execute("DETACH __cardioml_snapshot")
                with duckdb.connect(str(temp), read_only=True) as check:
                    copied = check.execute(
                        "SELECT count(*) FROM duckdb_tables() WHERE NOT internal AND NOT temporary AND NOT (schema_name = 'meta' AND table_name = 'snapshot')"
                    ).fetchall()[0][0]
                if copied != tables:
                    raise RuntimeError(f"snapshot copy has {copied} tables, the warehouse {tables}")
                with open(temp, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(temp, target)
            finally:
                temp.unlink(missing_ok=True)
        _fsync_directory(target.parent)
        return target

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """At the end of a run (this code location uses the in-process executor, so once per run):
        publish the snapshot if every step of the run succeeded. A failed, partial or killed run
        publishes nothing, and readers keep the last consistent state."""
        run = context.run
        if run is None or context.instance is None:
            return
        log = context.log
        try:
            incomplete = _unfinished_steps(context.instance, run)
            if incomplete:
                if log:
                    log.warning(f"warehouse snapshot not published: {len(incomplete)} step(s) did not succeed ({', '.join(sorted(incomplete)[:10])}); readers keep the previous snapshot")
                return
            started = time.perf_counter()
            target = self.publish_snapshot(run_id=run.run_id)
            if log:
                log.info(f"published the warehouse snapshot {target} in {time.perf_counter() - started:.2f}s")
        except SnapshotRefused as refused:
            if log:
                log.warning(f"warehouse snapshot not published, readers keep the previous one: {'; '.join(refused.problems[:10])}")
        except Exception as error:  # a failed publish must not fail a run whose data is committed
            if log:
                log.error(f"warehouse snapshot not published: {type(error).__name__}: {error}")


class SnapshotRefused(Exception):
    """The warehouse failed a consistency check, so the snapshot was not replaced."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


SnapshotCheck = Callable[[duckdb.DuckDBPyConnection], list[str]]
_SNAPSHOT_CHECKS: list[SnapshotCheck] = []


def register_snapshot_check(check: SnapshotCheck) -> SnapshotCheck:
    """Add a check run on the warehouse before each publish: it returns problems (empty = fine).
    Domains register theirs (cardioml_pipeline.automation registers the raw = staged + excluded
    reconciliation), so this module depends on none of them."""
    if check not in _SNAPSHOT_CHECKS:
        _SNAPSHOT_CHECKS.append(check)
    return check


def _row_counts(conn: duckdb.DuckDBPyConnection, tables: list[str] | None = None) -> dict[str, int]:
    """schema.table -> row count of the database's own tables (views over files are left out)."""
    names = [
        f"{schema}.{table}"
        for schema, table in conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal AND NOT temporary AND database_name = current_database()"
        ).fetchall()
    ]
    wanted = set(tables) if tables is not None else None
    counts = {}
    for name in names:
        if wanted is not None and name not in wanted or name == "meta.snapshot":
            continue
        schema, _, table = name.partition(".")
        counts[name] = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall()[0][0]
    return counts


def connect_retrying(path: Path, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, retrying for up to timeout_s while another process holds the file's lock."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _unfinished_steps(instance, run) -> set[str]:
    """Step keys of the run's plan that have no STEP_SUCCESS event (yet)."""
    from dagster import DagsterEventType

    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id) if run.execution_plan_snapshot_id else None
    if plan is None:
        return {"<no execution plan>"}
    planned = set(plan.step_keys_to_execute or [step.key for step in plan.steps])
    succeeded = {
        record.step_key
        for record in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_SUCCESS)
    }
    return planned - succeeded


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def resource_definitions() -> dg.Definitions:
    """Resources resolve CARDIOML_* at run time. Runs execute their steps in one process: the
    warehouse has a single writer, and the image stage parallelizes inside its own step."""
    return dg.Definitions(
        resources={
            "dataset": DatasetResource(),
            "warehouse": WarehouseResource(),
            "artifacts": ArtifactStoreResource(),
        },
        executor=dg.in_process_executor,
    )
