"""The daily schedule, the dataset sensor and declarative automation, evaluated with Dagster's test
utilities against real materializations of a copy of the demo data."""

from __future__ import annotations

import csv
import datetime as dt
import os
import time
from pathlib import Path

import dagster as dg

from cardioml_pipeline.automation.schedules import DAILY_SCHEDULE, daily_refresh
from cardioml_pipeline.automation.sensors import (
    AUTOMATION_SENSOR,
    CHANGED_TAG,
    DATASET_SENSOR,
    IMAGES_KEY,
    dataset_sensor,
)
from cardioml_pipeline.definitions import defs
from cardioml_pipeline.jobs import MAIN_JOB
from cardioml_pipeline.resources import ArtifactStoreResource, DatasetResource, WarehouseResource
from cardioml_pipeline_tests.conftest import materializable_assets

CBC = "Clinical_Data/04_Complete_Blood_Count.csv"
LABELS = "ECG Labels.csv"
CLINICAL = dg.AssetSelection.groups("raw", "staging")  # every raw asset, so the sensor has a baseline


def key(path: str) -> dg.AssetKey:
    return dg.AssetKey(path.split("/"))


def names(keys) -> set[str]:
    return {k.to_user_string() for k in keys}


def age(path: Path, seconds: int = 3600) -> None:
    """Move a file's mtime into the past, as if it had been written a while ago (the sensor leaves
    files modified in the last few seconds for the next tick)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, time.time_ns() - seconds * 10**9))


def age_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            age(path)


def edit_cell(path: Path, row_index: int, column_index: int, value: str) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[row_index][column_index] != value
    rows[row_index][column_index] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(rows)


def descendants(graph, roots: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """Walk the asset graph by hand (independently of the sensor's AssetSelection); the on-demand
    exports (group `exports`) are not part of `cardioml_main`, so not of the sensor's runs."""
    found, frontier = set(roots), list(roots)
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            if child not in found and graph.get(child).group_name != "exports":
                found.add(child)
                frontier.append(child)
    return found


def resources(data_dir: Path, tmp_path: Path) -> dict[str, object]:
    return {
        "dataset": DatasetResource(data_dir=str(data_dir)),
        "warehouse": WarehouseResource(database=str(tmp_path / "warehouse.duckdb")),
        "artifacts": ArtifactStoreResource(artifacts_dir=str(tmp_path / "artifacts")),
    }


class SensorHarness:
    """Evaluates the real sensor tick after tick, carrying the cursor like the daemon does."""

    def __init__(self, definitions: dg.Definitions, instance: dg.DagsterInstance, data_dir: Path):
        self.definitions, self.instance, self.data_dir = definitions, instance, data_dir
        self.cursor: str | None = None

    def tick(self):
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=self.definitions,
            resources={"dataset": DatasetResource(data_dir=str(self.data_dir))},
        )
        result = dataset_sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result


def selections(result) -> list[set[str]]:
    return [names(request.asset_selection) for request in result.run_requests]


def test_schedule_refreshes_everything_daily():
    repository = defs.get_repository_def()
    assert {s.name for s in repository.schedule_defs} >= {DAILY_SCHEDULE}
    assert {s.name for s in repository.sensor_defs} >= {DATASET_SENSOR, AUTOMATION_SENSOR}
    assert daily_refresh.cron_schedule == "0 3 * * *" and daily_refresh.job_name == MAIN_JOB
    job = defs.resolve_job_def(MAIN_JOB)
    graph = defs.resolve_asset_graph()
    on_demand = {k for k in graph.materializable_asset_keys if graph.get(k).group_name == "exports"}
    assert on_demand == {dg.AssetKey(["exports", "wfdb"])}
    assert set(job.asset_layer.executable_asset_keys) == set(graph.materializable_asset_keys) - on_demand

    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.timezone.utc))
    result = daily_refresh.evaluate_tick(context)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.run_key == f"{DAILY_SCHEDULE}:2026-03-01"
    assert request.asset_selection is None  # the whole cardioml_main job


def test_sensor_runs_only_what_an_edited_csv_feeds(demo_copy, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(materializable_assets(), resources=resources(demo_copy, tmp_path), instance=instance, selection=CLINICAL).success
    age_tree(demo_copy)
    sensor = SensorHarness(defs, instance, demo_copy)
    graph = defs.resolve_asset_graph()

    first = sensor.tick()  # no cursor: compared with what the runs loaded -> nothing to do
    assert first.run_requests == [] and "no input changed" in first.skip_message

    cbc = demo_copy / CBC
    edit_cell(cbc, 5, 3, "7.77")
    waiting = sensor.tick()  # just written: may still be being copied, left for the next tick
    assert waiting.run_requests == [] and CBC in waiting.skip_message
    age(cbc)
    changed = sensor.tick()
    assert len(changed.run_requests) == 1
    request = changed.run_requests[0]
    selected = names(request.asset_selection)
    assert selected == names(descendants(graph, {key("raw/complete_blood_count")}))
    assert {"raw/complete_blood_count", "staging/complete_blood_count", "quality/quarantine", "staging/data_dictionary"} <= selected
    assert not {k for k in selected if k.startswith("raw/")} - {"raw/complete_blood_count"}
    assert "staging/patients" not in selected and "staging/urinalysis" not in selected
    assert request.tags[CHANGED_TAG] == CBC and request.run_key
    assert [names([e.asset_key]) for e in changed.asset_events] == [{"source/complete_blood_count"}]

    again = sensor.tick()  # same files, cursor carried: nothing new
    assert again.run_requests == []

    age(cbc, seconds=7200)  # touched (mtime moved), same bytes: re-hashed, no run
    touched = sensor.tick()
    assert touched.run_requests == []

    labels = demo_copy / LABELS
    labels.write_bytes(labels.read_bytes() + b"999999-1,Tachycardia\r\n")
    age(labels)
    relabelled = sensor.tick()
    assert selections(relabelled) == [names(descendants(graph, {key("raw/ecg_labels")}))]
    assert {"raw/ecg_labels", "staging/ecg_labels", "quality/quarantine"} <= selections(relabelled)[0]
    assert "raw/complete_blood_count" not in selections(relabelled)[0]

    # the run the sensor asked for, executed: it succeeds and the next tick is quiet
    run = dg.materialize(
        materializable_assets(), resources=resources(demo_copy, tmp_path), instance=instance, selection=relabelled.run_requests[0].asset_selection
    )
    assert run.success
    assert sensor.tick().run_requests == []


def test_sensor_without_history_loads_every_input(demo_copy):
    age_tree(demo_copy)
    sensor = SensorHarness(defs, dg.DagsterInstance.ephemeral(), demo_copy)
    graph = defs.resolve_asset_graph()
    raw_keys = {k for k in graph.materializable_asset_keys if k.path[0] == "raw"}
    assert len(raw_keys) == 11
    result = sensor.tick()
    assert selections(result) == [names(descendants(graph, raw_keys))]
    assert sensor.tick().run_requests == []  # the cursor now holds every fingerprint

    cursor = sensor.cursor
    demo_copy.rename(demo_copy.with_name("moved"))  # the dataset root disappears (unmounted volume)
    gone = sensor.tick()
    assert gone.run_requests == [] and "not found" in gone.skip_message and sensor.cursor == cursor


def test_sensor_watches_ecg_images_for_the_image_asset(demo_copy):
    graph = defs.resolve_asset_graph()
    if graph.has(IMAGES_KEY):
        definitions = defs
    else:  # the image stage has not landed in this code location: a stand-in asset with its key

        @dg.asset(key=IMAGES_KEY, deps=[key("staging/patients")], group_name="images")
        def ecg_images_stand_in() -> None: ...

        definitions = dg.Definitions.merge(defs, dg.Definitions(assets=[ecg_images_stand_in]))
    graph = definitions.resolve_asset_graph()
    expected = names(descendants(graph, {IMAGES_KEY}))

    images = demo_copy / "ECG_Images"
    images.mkdir(exist_ok=True)
    for lead in ("I", "II"):
        (images / f"Patient_1001_lead_{lead}.png").write_bytes(b"\x89PNG demo " + lead.encode())
    age_tree(demo_copy)
    sensor = SensorHarness(definitions, dg.DagsterInstance.ephemeral(), demo_copy)
    first = sensor.tick()  # nothing ever materialized: every input, images included
    assert IMAGES_KEY.to_user_string() in selections(first)[0]
    assert sensor.tick().run_requests == []

    new = images / "Patient_1002_lead_V1.png"
    new.write_bytes(b"\x89PNG another lead")
    age(new)
    added = sensor.tick()
    assert selections(added) == [expected]
    assert added.run_requests[0].tags[CHANGED_TAG] == "ECG_Images/"

    age(new, seconds=9000)  # same bytes, new mtime
    assert sensor.tick().run_requests == []

    new.write_bytes(b"\x89PNG another lead, rescanned")
    age(new)
    assert selections(sensor.tick()) == [expected]

    new.unlink()
    assert selections(sensor.tick()) == [expected]
    assert sensor.tick().run_requests == []


def test_staging_assets_are_brought_up_to_date_after_a_raw_asset_alone(demo_copy, tmp_path):
    graph = defs.resolve_asset_graph()
    eager = {k for k in graph.materializable_asset_keys if graph.get(k).automation_condition is not None}
    staged_from_raw = {k for k in graph.materializable_asset_keys if k.path[0] == "staging" and any(p.path[0] == "raw" for p in graph.get(k).parent_keys)}
    assert staged_from_raw and staged_from_raw <= eager
    assert {key("quality/quarantine"), key("staging/data_dictionary")} <= eager
    assert not {k for k in eager if k.path[0] == "raw"}  # raw assets are the sensor's

    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(materializable_assets(), resources=resources(demo_copy, tmp_path), instance=instance, selection=CLINICAL).success
    initial = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert initial.total_requested == 0
    edit_cell(demo_copy / "Clinical_Data/08_Urinalysis.csv", 3, 2, "1.030")
    raw_only = dg.materialize(
        materializable_assets(), resources=resources(demo_copy, tmp_path), instance=instance, selection=[key("raw/urinalysis")]
    )
    assert raw_only.success
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=initial.cursor)
    requested = names(k for k in graph.materializable_asset_keys if after.get_num_requested(k))
    assert requested == names(descendants(graph, {key("staging/urinalysis")}) & eager)
    assert {"staging/urinalysis", "quality/quarantine", "staging/data_dictionary"} <= requested
