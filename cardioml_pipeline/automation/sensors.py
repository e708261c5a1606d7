"""Sensors: launch runs of only the assets whose input files changed, and declarative automation.

`cardioml_dataset_sensor` watches the dataset root (CARDIOML_DATA_DIR, the DatasetResource) every
30 seconds. Each input maps to the asset that reads it:

| input                        | asset                    |
| ---------------------------- | ------------------------ |
| `Clinical_Data/<table>.csv`  | `raw/<raw_table>`        |
| `ECG Labels.csv`             | `raw/ecg_labels`         |
| every file under ECG_Images/ | `images/ecg_images`      |

A changed input selects its asset and everything downstream of it, in one run of `cardioml_main`.

Change detection is by fingerprint, kept in the sensor cursor: size + mtime for every file, and the
sha256 only when those changed, so touching or re-copying a file launches nothing. A file modified
less than SETTLE_SECONDS ago (60 s; CARDIOML_SENSOR_SETTLE_SECONDS) is left for a later tick (it may still
be being written), and a CSV whose last line has no line end waits ten such windows. Without a
cursor (first tick, or reset), a CSV counts as changed when its sha256 differs from the
`source_sha256` its raw asset last loaded; the images when images/ecg_images was never materialized.

The images folder can hold thousands of files, so its cursor is bounded: files are spread over
IMAGE_BUCKETS buckets by path, each stored as (digest of sizes+mtimes, digest of contents); only
the buckets whose sizes or mtimes moved are re-hashed. Inputs whose asset is not defined in the code
location are not watched.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from cardioml_pipeline.clinical.assets import LABELS_FILE, LABELS_RAW_TABLE, raw_key, source_key
from cardioml_pipeline.clinical.tables import TABLES
from cardioml_pipeline.jobs import MAIN_JOB
from cardioml_pipeline.resources import DatasetResource

DATASET_SENSOR = "cardioml_dataset_sensor"
AUTOMATION_SENSOR = "cardioml_automation_conditions"
IMAGES_KEY = dg.AssetKey(["images", "ecg_images"])
IMAGES_INPUT = "ECG_Images/"
# A file modified less than this long ago may still be being copied: left for a later tick.
# Slow copies pause for seconds between writes, so the window is long; CARDIOML_SENSOR_SETTLE_SECONDS.
SETTLE_SECONDS = 60.0
# A CSV whose last line has no line end is most likely cut mid-row: it waits this many windows.
INCOMPLETE_LINE_WINDOWS = 10
IMAGE_BUCKETS = 64
CURSOR_VERSION = 1
TRIGGER_TAG = "cardioml/trigger"
CHANGED_TAG = "cardioml/changed_inputs"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class WatchedFile:
    """One dataset file read by one raw asset."""

    relative_path: str
    raw_table: str

    @property
    def asset_key(self) -> dg.AssetKey:
        return raw_key(self.raw_table)


def watched_files() -> list[WatchedFile]:
    files = [WatchedFile(f"Clinical_Data/{spec.source_file}", spec.raw_table) for spec in TABLES]
    return files + [WatchedFile(LABELS_FILE, LABELS_RAW_TABLE)]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# The cursor: {"v": 1, "files": {path: [size, mtime_ns, sha256]}, "images": {bucket: [stat, content]}}
# ("images" is absent until the images input has a baseline). Stored as JSON.


def load_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        state = json.loads(cursor)
    except ValueError:
        return None
    return state if isinstance(state, dict) and state.get("v") == CURSOR_VERSION else None


def dump_cursor(files: dict[str, list], images: dict[str, list] | None) -> str:
    state: dict[str, object] = {"v": CURSOR_VERSION, "files": files}
    if images is not None:
        state["images"] = images
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


@dataclass
class Scan:
    """What one evaluation found: changed inputs (label -> asset key), inputs still being written,
    and the fingerprints to store as the next cursor."""

    changed: dict[str, dg.AssetKey]
    settling: list[str]
    files: dict[str, list]
    images: dict[str, list] | None


def settle_seconds() -> float:
    value = os.environ.get("CARDIOML_SENSOR_SETTLE_SECONDS")
    return float(value) if value else SETTLE_SECONDS


def ends_with_line_end(path: Path, size: int) -> bool:
    """Whether the file's last byte ends a line (an empty file counts as complete)."""
    if size == 0:
        return True
    with path.open("rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) in (b"\n", b"\r")


def scan_clinical(root: Path, previous: dict[str, list] | None, loaded_sha256, now: float, settle: float | None = None) -> Scan:
    """Fingerprint the CSVs against `previous` (the cursor's entries, None on a first tick). A file
    the cursor does not know is compared with `loaded_sha256(asset_key)`: the sha256 its raw asset
    last loaded (None if never), so a first tick launches only what the warehouse lacks."""
    changed: dict[str, dg.AssetKey] = {}
    settling: list[str] = []
    files: dict[str, list] = {}
    for watched in watched_files():
        path = root / watched.relative_path
        old = (previous or {}).get(watched.relative_path)
        try:
            stat = path.stat()
        except FileNotFoundError:
            if old is not None:  # deleted since the last tick: the raw asset reports the missing file
                changed[watched.relative_path] = watched.asset_key
            continue
        settle = settle_seconds() if settle is None else settle
        quiet_for = now - stat.st_mtime_ns / 1e9
        still_written = quiet_for < settle
        if not still_written and quiet_for < settle * INCOMPLETE_LINE_WINDOWS and not (old is not None and old[0] == stat.st_size and old[1] == stat.st_mtime_ns):
            still_written = not ends_with_line_end(path, stat.st_size)  # cut mid-row: give the copy longer
        if still_written:
            settling.append(watched.relative_path)
            if old is not None:
                files[watched.relative_path] = old
            continue
        if old is not None and old[0] == stat.st_size and old[1] == stat.st_mtime_ns:
            files[watched.relative_path] = old  # size and mtime unchanged: not re-hashed
            continue
        sha = file_sha256(path)
        files[watched.relative_path] = [stat.st_size, stat.st_mtime_ns, sha]
        known = old[2] if old is not None else loaded_sha256(watched.asset_key)
        if sha != known:
            changed[watched.relative_path] = watched.asset_key
    return Scan(changed, settling, files, None)


def _bucket(relative_path: str) -> str:
    return format(zlib.crc32(relative_path.encode()) % IMAGE_BUCKETS, "02x")


def scan_images(images_dir: Path, previous: dict[str, list] | None, baseline_is_loaded: bool, now: float) -> tuple[bool, bool, dict[str, list]]:
    """(changed, settling, buckets) for every file under ECG_Images/. Without a previous state the
    current one becomes the baseline: changed only if the images asset was never materialized."""
    listing: dict[str, list[tuple[str, int, int]]] = {}
    newest = 0
    if images_dir.exists():
        for dirpath, dirnames, filenames in os.walk(images_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                relative = path.relative_to(images_dir).as_posix()
                listing.setdefault(_bucket(relative), []).append((relative, stat.st_size, stat.st_mtime_ns))
                newest = max(newest, stat.st_mtime_ns)
    if newest and now - newest / 1e9 < settle_seconds():
        return False, True, previous or {}
    buckets: dict[str, list] = {}
    changed = False
    for bucket, entries in sorted(listing.items()):
        entries.sort()
        stat_digest = hashlib.sha256("\n".join(f"{p}\0{s}\0{m}" for p, s, m in entries).encode()).hexdigest()[:16]
        old = (previous or {}).get(bucket)
        if previous is None:
            # first look: record sizes and mtimes; contents are hashed when they first move
            buckets[bucket] = [stat_digest, ""]
            continue
        if old is not None and old[0] == stat_digest:
            buckets[bucket] = old
            continue
        content = hashlib.sha256("\n".join(f"{p}\0{file_sha256(images_dir / p)}" for p, _, _ in entries).encode()).hexdigest()[:16]
        buckets[bucket] = [stat_digest, content]
        if old is None or not old[1] or old[1] != content:
            changed = True
    if previous is None:
        return (not baseline_is_loaded) and bool(listing), False, buckets
    if set(previous) - set(buckets):  # every file of a bucket was removed
        changed = True
    return changed, False, buckets


# ---------------------------------------------------------------------------------------------
# Selection: changed assets and everything downstream, resolved against the code location.


def downstream_selection(asset_graph, keys: set[dg.AssetKey]) -> list[dg.AssetKey]:
    """The keys, every materializable asset downstream of them, and whatever must run with them
    (the other outputs of a multi-asset that cannot be subset)."""
    selected = dg.AssetSelection.assets(*keys).downstream().resolve(asset_graph)
    complete: set[dg.AssetKey] = set()
    for key in selected:
        for entity in asset_graph.get_execution_set_asset_and_check_keys(key):
            if isinstance(entity, dg.AssetKey):
                complete.add(entity)
    materializable = set(asset_graph.materializable_asset_keys)
    on_demand = dg.AssetSelection.groups("exports").resolve(asset_graph)  # not in cardioml_main
    return sorted((complete & materializable) - on_demand, key=lambda k: k.to_user_string())


def latest_loaded_sha256(instance: dg.DagsterInstance):
    """asset key -> the source_sha256 its latest materialization recorded (None if never)."""

    def lookup(key: dg.AssetKey) -> str | None:
        event = instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event is not None else None
        if materialization is None:
            return None
        value = materialization.metadata.get("source_sha256")
        return getattr(value, "value", value) if value is not None else None

    return lookup


@dg.sensor(
    name=DATASET_SENSOR,
    job_name=MAIN_JOB,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Watches CARDIOML_DATA_DIR: a new or edited clinical CSV, a changed `ECG Labels.csv` or new or "
        "changed files under ECG_Images/ launch one run of the assets that read them and everything "
        "downstream. Cursor = file fingerprints (size + mtime; sha256 when those change)."
    ),
)
def dataset_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource) -> dg.SensorResult:
    repository = context.repository_def
    if repository is None:
        raise dg.DagsterInvariantViolationError(f"{DATASET_SENSOR} needs the code location's definitions to resolve asset selections")
    asset_graph = repository.asset_graph
    root = dataset.root
    if not root.is_dir():  # an unmounted or mistyped dataset root is not "every file deleted"
        return dg.SensorResult(skip_reason=f"dataset root {root} not found; nothing checked", cursor=context.cursor)
    now = time.time()
    state = load_cursor(context.cursor)
    loaded = latest_loaded_sha256(context.instance)

    scan = scan_clinical(root, state["files"] if state else None, loaded, now)
    images_state = state.get("images") if state else None
    if asset_graph.has(IMAGES_KEY):
        materialized = context.instance.get_latest_materialization_event(IMAGES_KEY) is not None
        images_changed, images_settling, buckets = scan_images(dataset.images_dir, images_state, materialized, now)
        scan.images = buckets
        if images_changed:
            scan.changed[IMAGES_INPUT] = IMAGES_KEY
        if images_settling:
            scan.settling.append(IMAGES_INPUT)
    cursor = dump_cursor(scan.files, scan.images)

    changed_keys = {key for key in scan.changed.values() if asset_graph.has(key)}
    if not changed_keys:
        waiting = f"; waiting for {', '.join(scan.settling)} to settle" if scan.settling else ""
        return dg.SensorResult(skip_reason=f"no input changed under {root}{waiting}", cursor=cursor)

    selection = downstream_selection(asset_graph, changed_keys)
    inputs = sorted(scan.changed)
    run_key = hashlib.sha256(json.dumps([inputs, cursor]).encode()).hexdigest()[:24]
    context.log.info(f"{len(inputs)} input(s) changed under {root}: {', '.join(inputs)}; materializing {len(selection)} asset(s)")
    observations = [
        dg.AssetObservation(asset_key=source_key(watched.raw_table), tags={"dagster/data_version": scan.files[watched.relative_path][2]})
        for watched in watched_files()
        if watched.relative_path in scan.changed and watched.relative_path in scan.files and asset_graph.has(source_key(watched.raw_table))
    ]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                asset_selection=selection,
                tags={TRIGGER_TAG: DATASET_SENSOR, CHANGED_TAG: ", ".join(inputs)[:1000]},
            )
        ],
        asset_events=observations,
        cursor=cursor,
    )


# Declarative automation: the staging assets carry AutomationCondition.eager() (in
# clinical/assets.py), so materializing a raw asset by hand (UI, CLI) brings its staging table, the
# quarantine and the dictionary up to date. This sensor evaluates those conditions; it launches runs
# only in reaction to such partial materializations, so it is on by default.
automation_condition_sensor = dg.AutomationConditionSensorDefinition(
    AUTOMATION_SENSOR,
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates the assets' automation conditions (eager staging after a raw asset is materialized on its own).",
)
