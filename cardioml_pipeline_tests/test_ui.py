"""The Dagster UI, for real: `dagster dev -w workspace.yaml` on a free port over a small, materialized
demo dataset; every asset and its checks checked through the GraphQL API and in headless Chromium
(Debian's package, driven over the DevTools protocol with the `websockets` client Dagster already
depends on, so no browser download and no extra Python package).

Set CARDIOML_UPDATE_SCREENSHOTS=1 to also write the README's docs/images/asset_graph.png."""

from __future__ import annotations

import base64
import collections
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import psutil
import pytest

from cardioml_pipeline.definitions import defs
from cardioml_pipeline.resources import ArtifactStoreResource, DatasetResource, WarehouseResource
from cardioml_pipeline_tests.conftest import materializable_assets

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[1]
SCREENSHOT = PROJECT / "docs" / "images" / "asset_graph.png"
SCREENSHOT_MAX_BYTES = 400 * 1024
LOCATION = "cardioml_pipeline"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium", "/usr/lib/chromium/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
STARTUP_TIMEOUT_S = 180


# ---------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_tree(process: subprocess.Popen, grace_s: float = 30) -> None:
    """Ctrl-C to the parent (dagster dev shuts its webserver, daemon and code server down), then
    SIGKILL whatever of the tree is still alive. Every process started is gone afterwards."""
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    for proc in tree:
        try:
            tree.extend(c for c in proc.children(recursive=True) if c not in tree)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=5)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.load(response)
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


LOCATION_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def wait_until_loaded(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster dev exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            entries = graphql(port, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError, TimeoutError, AssertionError):
            time.sleep(0.5)
            continue
        entry = next((e for e in entries if e["name"] == LOCATION), None)
        if entry and entry["loadStatus"] == "LOADED":
            error = entry["locationOrLoadError"]
            assert error["__typename"] == "RepositoryLocation", error
            return
        time.sleep(0.5)
    pytest.fail(f"the UI did not load {LOCATION} in {STARTUP_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A materialized demo warehouse, then `dagster dev` over it; yields (port, dagster home)."""
    from cardioml_pipeline.demo.clinical import write_demo_dataset

    root = tmp_path_factory.mktemp("ui")
    data, home = root / "dataset", root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    write_demo_dataset(data, patients=40, seed=5)
    env = dict(
        os.environ,
        CARDIOML_DATA_DIR=str(data),
        CARDIOML_WAREHOUSE=str(root / "warehouse" / "cardioml.duckdb"),
        CARDIOML_ARTIFACTS_DIR=str(root / "artifacts"),
        DAGSTER_HOME=str(home),
    )
    # Materialize the clinical layers into this instance, so the UI shows runs and check results
    # (everything when refreshing the README's picture).
    instance = dg.DagsterInstance.local_temp(tempdir=str(home))  # the storage `dagster dev` reads
    clinical = dg.AssetSelection.groups("raw", "staging")
    result = dg.materialize(
        materializable_assets(),
        instance=instance,
        selection=dg.AssetSelection.all() if os.environ.get("CARDIOML_UPDATE_SCREENSHOTS") else clinical,
        raise_on_error=False,
        resources={
            "dataset": DatasetResource(data_dir=env["CARDIOML_DATA_DIR"]),
            "warehouse": WarehouseResource(database=env["CARDIOML_WAREHOUSE"]),
            "artifacts": ArtifactStoreResource(artifacts_dir=env["CARDIOML_ARTIFACTS_DIR"]),
        },
    )
    clinical_steps = {k.to_python_identifier() for k in clinical.resolve(defs.resolve_asset_graph())}
    failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert not failed & clinical_steps, failed
    instance.dispose()

    port = free_port()
    log = root / "dagster_dev.log"
    with log.open("w") as handle:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_loaded(port, server, log)
        yield port
    finally:
        stop_process_tree(server)


# ---------------------------------------------------------------------------------------------
# What the code location defines


def expected_assets() -> dict[str, dict]:
    """asset key "a/b" -> {group, checks}: everything the code location's asset graph holds."""
    graph = defs.resolve_asset_graph()
    checks: dict[dg.AssetKey, set[str]] = collections.defaultdict(set)
    for check_key in graph.asset_check_keys:
        checks[check_key.asset_key].add(check_key.name)
    return {
        key.to_user_string(): {"group": graph.get(key).group_name, "checks": checks[key], "name": key.path[-1]}
        for key in graph.get_all_asset_keys()
    }


ASSETS_QUERY = """{
  assetNodes { assetKey { path } groupName isMaterializable isObservable
    assetMaterializations(limit: 1) { runId }
    assetChecksOrError { __typename ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } }
  repositoriesOrError { ... on RepositoryConnection { nodes { name location { name }
    sensors { name } schedules { name cronSchedule } jobs { name } } } }
}"""


def test_graphql_shows_every_asset_check_and_automation(ui):
    data = graphql(ui, ASSETS_QUERY)
    expected = expected_assets()
    shown = {"/".join(node["assetKey"]["path"]): node for node in data["assetNodes"]}
    assert set(shown) == set(expected)
    for key, spec in expected.items():
        node = shown[key]
        assert node["groupName"] == spec["group"], key
        assert node["assetChecksOrError"]["__typename"] == "AssetChecks", key
        assert {c["name"] for c in node["assetChecksOrError"]["checks"]} == spec["checks"], key
    for key, node in shown.items():
        if key.split("/")[0] in ("raw", "staging", "quality"):  # materialized by the fixture
            assert node["assetMaterializations"], f"{key} shows no materialization"
            for check in node["assetChecksOrError"]["checks"]:
                assert check["executionForLatestMaterialization"]["status"] in ("SUCCEEDED", "FAILED"), (key, check)
    repository = next(r for r in data["repositoriesOrError"]["nodes"] if r["location"]["name"] == LOCATION)
    assert {"cardioml_dataset_sensor", "cardioml_automation_conditions"} <= {s["name"] for s in repository["sensors"]}
    assert {"cardioml_daily_refresh": "0 3 * * *"}.items() <= {s["name"]: s["cronSchedule"] for s in repository["schedules"]}.items()
    assert "cardioml_main" in {j["name"] for j in repository["jobs"]}


# ---------------------------------------------------------------------------------------------
# Headless Chromium over the DevTools protocol


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


class Chromium:
    """Just enough of the DevTools protocol: navigate, evaluate JavaScript, take screenshots."""

    def __init__(self, executable: str, width: int, height: int):
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="cardioml-chromium-")
        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(self.profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (port_file.exists() and port_file.read_text().strip()):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start (exit code {self.process.poll()})")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
                page = next(t for t in json.load(response) if t["type"] == "page")
            self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
            self.ids = itertools.count(1)
            self.send("Page.enable")
            self.resize(width, height)
        except BaseException:
            self.close()
            raise

    def send(self, method: str, **params) -> dict:
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=120))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def resize(self, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout_s: float = 90, what: str = ""):
        """Poll a JavaScript expression until it is truthy (dismissing Dagster's first-visit
        dialog on the way); returns its value."""
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            try:
                self.evaluate(DISMISS_DIALOG)
                value = self.evaluate(expression)
            except RuntimeError as error:  # mid-navigation the page may have no body yet: poll again
                value = f"<{error}>"
            else:
                if value:
                    return value
            time.sleep(0.5)
        page = self.evaluate("document.body ? document.body.innerText : ''")
        raise AssertionError(f"timed out waiting for {what or expression}; last value {value!r}; page text: {page[:1500]!r}")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        sock = getattr(self, "socket", None)
        if sock is not None:
            sock.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)


DISMISS_DIALOG = """(() => { const skip = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Skip');
  if (skip) { skip.click(); return true; } return false; })()"""

# Every asset node of the graph on the page: [name, text of its "Asset checks" row, still loading?]
GRAPH_NODES = """(() => [...document.querySelectorAll('foreignObject')].flatMap(f => {
  const title = f.querySelector('[class*="AssetNode_assetName"] [data-tooltip]');
  if (!title) return [];
  const text = f.firstElementChild.innerText;
  const lines = text.split('\\n').map(l => l.trim());
  const at = lines.indexOf('Asset checks');
  return [[title.getAttribute('data-tooltip'), at >= 0 ? lines[at + 1] : null, text.includes('Loading')]];
}))()"""


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, but CI must run the browser tests (.ci/run installs it)")
        pytest.skip("chromium not found (apt-get install chromium): the browser test needs Debian's headless Chromium")
    chromium = Chromium(executable, 1600, 1000)
    try:
        yield chromium
    finally:
        chromium.close()


def test_asset_graph_in_the_browser_shows_every_asset_and_its_checks(ui, browser, tmp_path):
    expected = expected_assets()
    by_group: dict[str, list[dict]] = collections.defaultdict(list)
    for key, spec in expected.items():
        by_group[spec["group"]].append(dict(spec, key=key))

    for group, assets in sorted(by_group.items()):
        browser.resize(2400, max(1400, 280 * len(assets)))  # tall enough that no node is culled
        browser.open(f"http://127.0.0.1:{ui}/locations/{LOCATION}/asset-groups/{group}")
        want = collections.Counter(a["name"] for a in assets)
        nodes = browser.wait_for(
            f"(() => {{ const n = {GRAPH_NODES}; const want = {json.dumps(dict(want))};"
            " const got = {}; n.forEach(([name]) => got[name] = (got[name] || 0) + 1);"
            " const complete = Object.entries(want).every(([k, v]) => got[k] === v);"
            " return complete && !n.some(x => x[2]) ? n : null; })()",
            what=f"the {group} group's {len(assets)} asset nodes",
        )
        shown = collections.Counter(name for name, _, _ in nodes)
        assert shown == want, group  # every asset of the group, and nothing else
        rows = collections.defaultdict(list)
        for name, checks_row, _ in nodes:
            rows[name].append(checks_row)
        for asset in assets:
            count, options = len(asset["checks"]), [r or "" for r in rows[asset["name"]]]
            if count:  # e.g. "2 / 2 Passed" once materialized, "0 / 2 Passed" before
                assert any(f"/ {count}" in r for r in options), f"{asset['key']}: node shows checks {options}, expected {count}"
            else:
                assert any(r in ("", "–", "-") for r in options), f"{asset['key']}: node shows checks {options}, expected none"

    # each check by name, on the asset's Checks tab
    browser.resize(1600, 1000)
    for key, spec in sorted(expected.items()):
        if not spec["checks"]:
            continue
        browser.open(f"http://127.0.0.1:{ui}/assets/{key}?view=checks")
        names = json.dumps(sorted(spec["checks"]))
        browser.wait_for(
            f"(() => {{ const t = document.body.innerText; return t.includes('Checks ({len(spec['checks'])})') && {names}.every(n => t.includes(n)); }})()",
            what=f"the checks of {key}",
        )

    # the screenshot for the README: the lineage around staging/patients
    browser.resize(1600, 1000)
    browser.open(f"http://127.0.0.1:{ui}/assets/staging/patients?view=lineage&lineageScope=neighbors&lineageDepth=2")
    browser.wait_for(
        "(() => { const t = document.body.innerText; return ['core_patient_data', 'patients', 'ecg_labels', 'quarantine', 'data_dictionary'].every(n => t.includes(n)); })()",
        what="the lineage graph of staging/patients",
    )
    time.sleep(1.5)  # let the graph settle (fonts, edges) before the picture
    png = browser.screenshot()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < SCREENSHOT_MAX_BYTES, len(png)
    (tmp_path / "asset_graph.png").write_bytes(png)
    if os.environ.get("CARDIOML_UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(png)
