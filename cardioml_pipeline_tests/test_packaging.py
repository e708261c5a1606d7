"""Packaging contracts: the instance configuration `make` installs, the lock files, `[tool.dg]`."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import dagster as dg

from cardioml_pipeline.definitions import defs

PROJECT = Path(__file__).resolve().parents[1]


def test_dagster_yaml_limits_the_duckdb_writer_pool_to_one_step(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()
    try:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    finally:
        instance.dispose()
    # the default limit is the writer pool's limit only while it is the project's only pool
    pools = {
        node.pool
        for asset in defs.assets
        if isinstance(asset, dg.AssetsDefinition)
        for node in ([asset.node_def] if not hasattr(asset.node_def, "iterate_node_defs") else asset.node_def.iterate_node_defs())
    }
    assert pools - {None} == {"duckdb_writer"}


def _pins(text: str) -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^ ;\n]+)", text, flags=re.M):
        pins.setdefault(name.lower().replace("_", "-"), set()).add(version)
    return pins


def test_uv_lock_is_universal_and_requirements_lock_is_its_export():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    lock = tomllib.loads((PROJECT / "uv.lock").read_text())
    assert lock["requires-python"] == ">=3.11, <3.14"
    locked = {}
    for package in lock["package"]:
        locked.setdefault(package["name"], set()).add(package["version"])
    exported = _pins((PROJECT / "requirements.lock").read_text())
    for name, versions in exported.items():
        assert versions <= locked.get(name, set()), f"requirements.lock pins {name}=={versions}, uv.lock has {locked.get(name)}"
    # every direct dependency is pinned in pyproject.toml and locked at that version
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name, version = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(.+)$", requirement).groups()
        assert version in locked[name.lower()], requirement
    assert "dagster-dask" not in locked, "declare what the code imports: dask[distributed]"
    assert "distributed" in locked


def test_pyproject_makes_a_dg_project_on_the_same_definitions_as_workspace_yaml():
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]
    assert config["dg"]["directory_type"] == "project"
    assert config["dg"]["project"]["code_location_target_module"] == config["dagster"]["module_name"]
    assert "module_name: " + config["dagster"]["module_name"] in (PROJECT / "workspace.yaml").read_text()
