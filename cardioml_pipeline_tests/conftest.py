"""Shared fixtures: real dataset location, small demo datasets, and in-process pipeline runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cardioml_pipeline.definitions import defs
from cardioml_pipeline.resources import ArtifactStoreResource, DatasetResource, WarehouseResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
REAL_CARDIO_ML = SHARED_DATASETS / "cardio-ml"


def require_shared(path: Path) -> Path:
    """The reference data in ../shared; skipped (with the reason) only outside CI."""
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing, but CI must always have ../shared beside the project")
        pytest.skip(f"{path} not found: the reference datasets in ../shared are not beside this checkout")
    return path


@pytest.fixture(scope="session")
def real_dataset() -> Path:
    return require_shared(REAL_CARDIO_ML)


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory) -> Path:
    """A 60-patient demo dataset, generated once per session; copy it before changing it."""
    from cardioml_pipeline.demo.clinical import write_demo_dataset

    out = tmp_path_factory.mktemp("demo") / "dataset"
    write_demo_dataset(out, patients=60, seed=7)
    return out


@pytest.fixture
def demo_copy(demo_dataset, tmp_path) -> Path:
    """A private, editable copy of the demo dataset."""
    target = tmp_path / "dataset"
    shutil.copytree(demo_dataset, target)
    return target


def materializable_assets():
    return [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.is_materializable]


def run_pipeline(data_dir: Path, warehouse: Path, artifacts: Path | None = None, selection=None, run_config=None) -> dg.ExecuteInProcessResult:
    """Materialize the assets in-process against a real DuckDB file."""
    resources = {
        "dataset": DatasetResource(data_dir=str(data_dir)),
        "warehouse": WarehouseResource(database=str(warehouse)),
        "artifacts": ArtifactStoreResource(artifacts_dir=str(artifacts or warehouse.parent / "artifacts")),
    }
    return dg.materialize(materializable_assets(), resources=resources, selection=selection, raise_on_error=False, run_config=run_config)


def query(warehouse: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def failed_steps(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Step key -> error message for every failed step."""
    failures = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            failures[event.step_key] = error.to_string() if error else ""
    return failures


def check_results(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], object]:
    """(asset key path, check name) -> AssetCheckEvaluation."""
    evaluations = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            evaluations[("/".join(evaluation.asset_key.path), evaluation.check_name)] = evaluation
    return evaluations
