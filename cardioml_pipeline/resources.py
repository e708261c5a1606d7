"""Settings from CARDIOML_* environment variables, exposed as Dagster resources.

Every path is resolved when a run uses it (not at import), so the same definitions serve the demo
data, the real dataset and test fixtures. An explicit resource field wins over the environment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
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

    @property
    def path(self) -> Path:
        return resolve_setting(self.database, "CARDIOML_WAREHOUSE", DEFAULT_WAREHOUSE)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.path
        if read_only and not path.exists():
            raise FileNotFoundError(
                f"warehouse {path} does not exist yet: materialize the assets first"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect_with_retry(path, read_only=read_only)
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


def _connect_with_retry(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + WRITER_LOCK_TIMEOUT_S
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


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
