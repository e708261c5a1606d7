"""Load test: analyst queries in a loop, from other processes, while a full materialization writes.

    .venv/bin/python benchmarks/load_test.py                 # 3000 patients, 1 reader process
    .venv/bin/python benchmarks/load_test.py --patients 5000 --readers 2 --repeat 2

What it does, all on this machine, in a scratch folder (deleted unless --keep):
1. `cardioml demo-data` writes two datasets: A (N-200 patients, seed 1) and B (N patients, seed 0),
   so that every table differs and a half-applied run is visible in row counts.
2. `dagster asset materialize --select '*'` builds a warehouse from A (publishing its snapshot).
3. Each scenario copies that warehouse and times a full materialization of B over it (every table
   is rewritten), with reader processes running analyst queries in a loop, each on a fresh
   connection like a `cardioml sql` call:
     no load            no readers: the baseline run time
     snapshot (design)  WarehouseResource.read(): the snapshot runs publish (what the CLI uses)
     live, retrying     WarehouseResource.read(live=True): the live file, waiting on the lock
     live, naive        duckdb.connect(warehouse, read_only=True), no retry
   One query in four is the consistency query (per table: raw rows, staged rows, excluded rows,
   in one statement); an answer counts as consistent when raw = staged + excluded for every
   table AND it is exactly the answer of the finished A or B warehouse (no mix of the two).
4. Prints one table: run time, queries, errors, inconsistent answers, which states readers saw,
   latency. Readers stop by themselves when the run ends (or after --max-seconds).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

QUERIES = {
    "consistency": None,  # filled from cardioml_pipeline.automation.consistency at run time
    "cohort_by_finding": """
        SELECT l.finding, count(DISTINCT l.file_number) AS patients,
               count(DISTINCT l.file_number) FILTER (WHERE p.death) AS deaths
        FROM staging.ecg_labels l JOIN staging.patients p USING (file_number)
        GROUP BY 1 ORDER BY 2 DESC""",
    "labs_by_outcome": """
        SELECT p.death, count(*) AS patients, avg(c.hemoglobin) AS hemoglobin, avg(m.creatinine) AS creatinine,
               count(*) FILTER (WHERE m.troponin_i_censored) AS troponin_below_limit
        FROM staging.patients p
        JOIN staging.complete_blood_count c USING (file_number)
        JOIN staging.metabolic_panel m USING (file_number)
        GROUP BY 1 ORDER BY 1""",
    "quarantine": "SELECT table_name, column_name, reason, action, count(*) AS n FROM quality.quarantine GROUP BY ALL ORDER BY n DESC",
}
MODES = {"none": "no load", "snapshot": "snapshot (design)", "live-retry": "live, retrying", "live-naive": "live, naive"}


# ---------------------------------------------------------------------------------------------
# Reader process


def reader(mode: str, warehouse: Path, stop_file: Path, ready_file: Path, out: Path, max_seconds: float) -> None:
    import duckdb

    from cardioml_pipeline.automation.consistency import reader_consistency_sql
    from cardioml_pipeline.resources import WarehouseResource

    queries = dict(QUERIES, consistency=reader_consistency_sql())
    names = list(queries)
    resource = WarehouseResource(database=str(warehouse))

    def open_connection():
        if mode == "snapshot":
            return resource.read()
        if mode == "live-retry":
            return resource.read(live=True)
        return duckdb.connect(str(warehouse), read_only=True)

    answers: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    unbalanced = 0
    ready_file.touch()
    deadline = time.monotonic() + max_seconds
    i = 0
    while not stop_file.exists() and time.monotonic() < deadline:
        name = names[i % len(names)]
        i += 1
        started = time.perf_counter()
        try:
            with open_connection() as conn:
                rows = conn.execute(queries[name]).fetchall()
        except Exception as error:  # counted, by kind: the point of the test
            message = str(error).splitlines()[0].replace(str(warehouse), "<warehouse>")
            errors[f"{type(error).__name__}: {message[:120]}"] += 1
            continue
        latencies.append(time.perf_counter() - started)
        if name == "consistency":
            answer = sorted(rows)
            answers[json.dumps(answer)] += 1
            if any(raw != staged + excluded for _, raw, staged, excluded in answer):
                unbalanced += 1
    out.write_text(json.dumps({"queries": i, "answers": answers, "errors": errors, "latencies": latencies, "unbalanced": unbalanced}))


# ---------------------------------------------------------------------------------------------
# Driver


def run(command: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> float:
    started = time.perf_counter()
    with (log.open("w") if log else open(os.devnull, "w")) as handle:
        result = subprocess.run(command, env=env, cwd=PROJECT, stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = log.read_text()[-3000:] if log else ""
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n{tail}")
    return time.perf_counter() - started


def materialize_env(data: Path, warehouse: Path, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return dict(
        os.environ,
        CARDIOML_DATA_DIR=str(data),
        CARDIOML_WAREHOUSE=str(warehouse),
        CARDIOML_ARTIFACTS_DIR=str(warehouse.parent / "artifacts"),
        DAGSTER_HOME=str(home),
    )


MATERIALIZE = [str(BIN / "dagster"), "asset", "materialize", "-m", "cardioml_pipeline.definitions", "--select", "*"]


def consistency_answer(path: Path) -> str:
    import duckdb

    from cardioml_pipeline.automation.consistency import reader_consistency_sql

    with duckdb.connect(str(path), read_only=True) as conn:
        return json.dumps(sorted(conn.execute(reader_consistency_sql()).fetchall()))


def log_seconds(log: Path, pattern: str) -> float | None:
    """The last duration the pattern captures in the log ("845ms", "2.99s", "1m13s" or "1h2m3s")."""
    found = re.findall(pattern, log.read_text())
    if not found:
        return None
    text, seconds = found[-1], 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|h|m|s)", text):
        seconds += float(number) * {"ms": 0.001, "h": 3600, "m": 60, "s": 1}[unit]
    return seconds


def scenario(mode: str, work: Path, base: Path, data_b: Path, readers: int, max_seconds: float, index: int) -> dict:
    folder = work / f"{index:02d}-{mode}"
    folder.mkdir()
    warehouse = folder / "cardioml.duckdb"
    shutil.copy(base, warehouse)
    shutil.copy(base.with_name("cardioml.snapshot.duckdb"), warehouse.with_name("cardioml.snapshot.duckdb"))
    stop_file, processes, outputs = folder / "stop", [], []
    for n in range(readers if mode != "none" else 0):
        out, ready = folder / f"reader{n}.json", folder / f"reader{n}.ready"
        outputs.append(out)
        processes.append(
            (
                subprocess.Popen(
                    [sys.executable, __file__, "--reader", mode, "--warehouse", str(warehouse), "--stop-file", str(stop_file),
                     "--ready-file", str(ready), "--out", str(out), "--max-seconds", str(max_seconds)],
                    cwd=PROJECT,
                ),
                ready,
            )
        )
    for process, ready in processes:
        while not ready.exists():
            if process.poll() is not None:
                raise SystemExit(f"reader exited early ({process.returncode})")
            time.sleep(0.05)
    log = folder / "materialize.log"
    try:
        seconds = run(MATERIALIZE, materialize_env(data_b, warehouse, folder / "dagster_home"), log)
    finally:
        stop_file.touch()
        for process, _ in processes:
            try:
                process.wait(timeout=max_seconds + 60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    result = {
        "mode": mode,
        "seconds": seconds,
        "steps_seconds": log_seconds(log, r"Finished steps in process \(pid: \d+\) in (\S+)"),
        "publish_seconds": log_seconds(log, r"published the warehouse snapshot .* in (\S+)"),
        "final": consistency_answer(warehouse.with_name("cardioml.snapshot.duckdb")),
        "final_live": consistency_answer(warehouse),
        "queries": 0, "errors": collections.Counter(), "answers": collections.Counter(), "latencies": [], "unbalanced": 0,
    }
    for out in outputs:
        data = json.loads(out.read_text())
        result["queries"] += data["queries"]
        result["errors"].update(data["errors"])
        result["answers"].update(data["answers"])
        result["latencies"] += data["latencies"]
        result["unbalanced"] += data["unbalanced"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=3000, help="patients in the dataset the timed runs load (default 3000)")
    parser.add_argument("--readers", type=int, default=1, help="reader processes per scenario (default 1)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all scenarios (default 1)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma list of scenarios (default {','.join(MODES)})")
    parser.add_argument("--max-seconds", type=float, default=600, help="readers stop after this long whatever happens")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--reader", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reader:
        reader(args.reader, Path(args.warehouse), Path(args.stop_file), Path(args.ready_file), Path(args.out), args.max_seconds)
        return 0

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="cardioml-load-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        demo_help = subprocess.run([str(BIN / "cardioml"), "demo-data", "--help"], capture_output=True, text=True).stdout
        no_images = ["--no-images"] if "--no-images" in demo_help else []
        data_a, data_b = work / "data_A", work / "data_B"
        print(f"scratch folder: {work}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before starting")
        t = run([str(BIN / "cardioml"), "demo-data", "--patients", str(args.patients - 200), "--seed", "1", "--out", str(data_a), *no_images])
        t += run([str(BIN / "cardioml"), "demo-data", "--patients", str(args.patients), "--seed", "0", "--out", str(data_b), *no_images])
        print(f"datasets: A {args.patients - 200} patients, B {args.patients} patients ({t:.1f}s)")
        base = work / "base" / "cardioml.duckdb"
        base.parent.mkdir()
        t = run(MATERIALIZE, materialize_env(data_a, base, work / "base" / "dagster_home"), work / "base" / "materialize.log")
        print(f"base warehouse from A: {t:.1f}s")
        state_a = consistency_answer(base.with_name("cardioml.snapshot.duckdb"))

        results = []
        index = 0
        for round_ in range(args.repeat):
            for mode in modes:
                index += 1
                result = scenario(mode, work, base, data_b, args.readers, args.max_seconds, index)
                results.append(result)
                print(f"  round {round_ + 1}: {MODES[mode]:<18} run {result['seconds']:.2f}s, {result['queries']} queries", flush=True)
        state_b = results[0]["final"]
        for result in results:
            if result["final"] != state_b or result["final_live"] != state_b:
                raise SystemExit(f"scenario {result['mode']}: the finished warehouse differs from the others")
        report(results, state_a, state_b, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(results: list[dict], state_a: str, state_b: str, args) -> None:
    by_mode: dict[str, list[dict]] = collections.defaultdict(list)
    for result in results:
        by_mode[result["mode"]].append(result)
    print()
    print(f"Full materialization of {args.patients} patients over a warehouse of {args.patients - 200}, "
          f"{args.readers} reader process(es), {args.repeat} round(s); medians over rounds.")
    header = f"{'readers':<18} {'run s':>6} {'steps s':>7} {'queries':>7} {'q/s':>6} {'errors':>6} {'inconsistent':>12} {'states seen':>13} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>8}"
    print(header)
    print("-" * len(header))
    baseline = None
    for mode in MODES:
        rows = by_mode.get(mode)
        if not rows:
            continue
        seconds = statistics.median(r["seconds"] for r in rows)
        steps = statistics.median(r["steps_seconds"] or 0 for r in rows)
        baseline = seconds if mode == "none" else baseline
        if mode == "none":
            print(f"{MODES[mode]:<18} {seconds:>6.2f} {steps:>7.2f} {'-':>7} {'-':>6} {'-':>6} {'-':>12} {'-':>13} {'-':>7} {'-':>7} {'-':>8}")
            continue
        queries = sum(r["queries"] for r in rows)
        errors = sum(sum(r["errors"].values()) for r in rows)
        answers: collections.Counter[str] = collections.Counter()
        for r in rows:
            answers.update(r["answers"])
        mixed = sum(n for answer, n in answers.items() if answer not in (state_a, state_b)) + sum(r["unbalanced"] for r in rows)
        seen = "+".join(name for name, state in (("A", state_a), ("B", state_b)) if answers.get(state))
        seen += "+mixed" if any(a not in (state_a, state_b) for a in answers) else ""
        latencies = sorted(ms for r in rows for ms in r["latencies"])
        pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")  # noqa: E731
        rate = queries / sum(r["seconds"] for r in rows)
        print(f"{MODES[mode]:<18} {seconds:>6.2f} {steps:>7.2f} {queries:>7} {rate:>6.0f} {errors:>6} {mixed:>12} {seen or '-':>13} {pct(0.5):>7.1f} {pct(0.95):>7.1f} {pct(1.0) if latencies else float('nan'):>8.1f}")
    print(f"(load average at the end: {os.getloadavg()[0]:.1f}; readers query back to back, so on a small machine part of the slow-down is CPU they take)")
    publish = [r["publish_seconds"] for r in results if r["publish_seconds"] is not None]
    if publish:
        print(f"snapshot publish at the end of each run: median {statistics.median(publish):.2f}s")
    if baseline:
        for mode in MODES:
            if mode != "none" and by_mode.get(mode):
                slower = statistics.median(r["seconds"] for r in by_mode[mode]) / baseline - 1
                print(f"run time with {MODES[mode]} readers: {slower:+.0%} against no load")
    for mode in MODES:
        errors: collections.Counter[str] = collections.Counter()
        for r in by_mode.get(mode, []):
            errors.update(r["errors"])
        for kind, n in errors.most_common(3):
            print(f"  {MODES[mode]} errors: {n} x {kind}")


if __name__ == "__main__":
    sys.exit(main())
