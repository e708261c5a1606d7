"""ECG measurements against cardiologists' annotations (LUDB), side by side with neurokit2.

    .venv/bin/python benchmarks/ecg_measurements.py [--ludb ../shared/datasets/ludb] [--records 1-100]
        [--methods before,after,neurokit2] [--per-record]

Reference: the Lobachevsky University ECG database (LUDB), where cardiologists marked, lead by
lead, the onset `(`, peak (`p`, `N`, `t`) and offset `)` of every P wave, QRS complex and T wave
(beats in about the first and last second are not marked). Per beat, the global reference is the
median over the leads that marked it (QRS onset, QRS offset, P onset, T offset); per record, the
median over its beats: PR = QRS onset - P onset, QRS = QRS offset - QRS onset, QT = T offset - QRS
onset, heart rate = 60000 / mean RR of the marked beats (R peaks, median over leads).

Methods compared (each gives one value per record and interval):
- before:    ecg-features-1, the feature layer's per-lead measurements before issue 14
             (`features/ecg.py` loaded from git revision BEFORE_REVISION), median over QC-passed
             leads (what the `ecg_*_ms` summary columns were);
- per-lead:  today's measurement core on each lead alone (`features.ecg.lead_features`), median
             over QC-passed leads;
- after:     the global 12-lead measurements (`features.ecg_measure.measure_ecg`);
- nk2-dwt, nk2-prominence: neurokit2's own delineation (`ecg_delineate`, its default DWT method
             and its prominence method) on lead II, median over beats.

Prints, per interval, the median and 90th-percentile absolute error over records, how many records
were measured, and for PR how many of the records without P waves (no `p` mark in any lead: atrial
fibrillation, flutter; and paced records whose P waves the cardiologists did not mark) were given
a PR anyway. Method `after-e2e` (add it to --methods) draws the same records with the project's
renderer as 12 per-lead paper images, digitizes them with the image stage and measures the
digitized leads with the feature layer's code: the end-to-end figure.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LUDB_DEFAULT = ROOT.parent / "shared" / "datasets" / "ludb"
LEADS_WFDB = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
INTERVALS = ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms")
UNITS = {"heart_rate_bpm": "bpm", "pr_ms": "ms", "qrs_ms": "ms", "qt_ms": "ms"}


# ---------------------------------------------------------------------------------------------
# Reference from the annotations.


def _waves(samples: np.ndarray, symbols: list[str], peak: str) -> list[tuple[int, int, int]]:
    """(onset, peak, offset) of every complete wave of type `peak` ('p', 'N', 't') in one lead."""
    out = []
    for i, symbol in enumerate(symbols):
        if symbol != peak:
            continue
        if i > 0 and i + 1 < len(symbols) and symbols[i - 1] == "(" and symbols[i + 1] == ")":
            out.append((int(samples[i - 1]), int(samples[i]), int(samples[i + 1])))
    return out


def reference(record: Path) -> dict[str, float | None]:
    """Cardiologists' global intervals of one record (median over beats of the per-beat median over leads)."""
    import wfdb

    fs = 500.0
    per_lead = {}
    for lead in LEADS_WFDB:
        try:
            ann = wfdb.rdann(str(record), lead)
        except FileNotFoundError:
            continue
        fs = float(ann.fs or fs)
        per_lead[lead] = {k: _waves(ann.sample, ann.symbol, k) for k in ("p", "N", "t")}
    # beats: QRS peaks of all leads clustered in time (a gap > 150 ms starts a new beat)
    marks = sorted((peak, lead, on, off) for lead, w in per_lead.items() for on, peak, off in w["N"])
    clusters: list[list[tuple]] = []
    for mark in marks:
        if clusters and mark[0] - clusters[-1][-1][0] <= 0.15 * fs:
            clusters[-1].append(mark)
        else:
            clusters.append([mark])
    clusters = [c for c in clusters if len(c) >= 3]
    beats = []
    for c in clusters:
        beats.append(
            {
                "peak": float(np.median([m[0] for m in c])),
                "on": float(np.median([m[2] for m in c])),
                "off": float(np.median([m[3] for m in c])),
            }
        )
    for i, beat in enumerate(beats):
        prev_off = beats[i - 1]["off"] if i > 0 else beat["on"] - 0.6 * fs
        next_on = beats[i + 1]["on"] if i + 1 < len(beats) else beat["off"] + 0.8 * fs
        p_on = [on for w in per_lead.values() for on, pk, off in w["p"] if prev_off < pk < beat["on"]]
        t_off = [off for w in per_lead.values() for on, pk, off in w["t"] if beat["off"] < pk < next_on]
        beat["p_on"] = float(np.median(p_on)) if len(p_on) >= 3 else None
        beat["t_off"] = float(np.median(t_off)) if len(t_off) >= 3 else None
    ms = 1000.0 / fs
    rr = [(b["peak"] - a["peak"]) * ms for a, b in zip(beats, beats[1:]) if (b["peak"] - a["peak"]) * ms < 2500]

    def med(values: list[float]) -> float | None:
        return float(np.median(values)) if values else None

    has_p = any(w["p"] for w in per_lead.values())
    return {
        "heart_rate_bpm": 60000.0 / float(np.mean(rr)) if rr else None,
        "pr_ms": med([(b["on"] - b["p_on"]) * ms for b in beats if b["p_on"] is not None]) if has_p else None,
        "qrs_ms": med([(b["off"] - b["on"]) * ms for b in beats]),
        "qt_ms": med([(b["t_off"] - b["on"]) * ms for b in beats if b["t_off"] is not None]),
        "has_p": has_p,
    }


def read_signals(record: Path) -> tuple[dict[str, np.ndarray], int]:
    import wfdb

    rec = wfdb.rdrecord(str(record))
    names = {n.lower(): i for i, n in enumerate(rec.sig_name)}
    signals = {lead: rec.p_signal[:, names[w]].astype(np.float64) for lead, w in zip(LEADS, LEADS_WFDB) if w in names}
    return signals, int(rec.fs)


# ---------------------------------------------------------------------------------------------
# Methods.


BEFORE_REVISION = "ce9ad9e"  # the last commit with ecg-features-1 (per-lead measurements)


def _before_module():
    """features/ecg.py as it was at BEFORE_REVISION, loaded from git (the "before" figures)."""
    global _BEFORE
    if _BEFORE is None:
        import subprocess
        import types

        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{BEFORE_REVISION}:cardioml_pipeline/features/ecg.py"], capture_output=True, text=True, check=True
        ).stdout
        module = types.ModuleType("ecg_features_1")
        sys.modules["ecg_features_1"] = module  # dataclasses look their module up
        exec(compile(source, f"{BEFORE_REVISION}:cardioml_pipeline/features/ecg.py", "exec"), module.__dict__)
        _BEFORE = module
    return _BEFORE


_BEFORE = None


def measure_before(signals: dict[str, np.ndarray], fs: int) -> dict[str, float | None]:
    """ecg-features-1 (git BEFORE_REVISION): per-lead measurements, median over QC-passed leads."""
    return _median_over_leads(_before_module().lead_features, signals, fs)


def measure_per_lead(signals: dict[str, np.ndarray], fs: int) -> dict[str, float | None]:
    """Today's `features.ecg.lead_features` (the measurement core on each lead alone), median over QC-passed leads."""
    from cardioml_pipeline.features.ecg import lead_features

    return _median_over_leads(lead_features, signals, fs)


def _median_over_leads(lead_features: Callable, signals: dict[str, np.ndarray], fs: int) -> dict[str, float | None]:
    rows = [lead_features(x, fs) for x in signals.values()]
    passed = [r for r in rows if r["qc_passed"] == 1]
    out = {}
    for name in INTERVALS:
        values = [r[name] for r in passed if r.get(name) is not None]
        out[name] = float(np.median(values)) if values else None
    return out


def measure_after(signals: dict[str, np.ndarray], fs: int) -> dict[str, float | None]:
    from cardioml_pipeline.features.ecg_measure import measure_ecg

    m = measure_ecg(signals, fs)
    return {name: m[name] for name in INTERVALS}


def measure_neurokit2(signals: dict[str, np.ndarray], fs: int, method: str = "dwt") -> dict[str, float | None]:
    """neurokit2's delineation of lead II (`method`: dwt, its default, or prominence), median over beats."""
    import neurokit2 as nk

    x = signals["II"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = nk.ecg_clean(x, sampling_rate=fs)
        _, info = nk.ecg_peaks(clean, sampling_rate=fs)
        peaks = np.asarray(info["ECG_R_Peaks"])
        rr = np.diff(peaks) / fs * 1000.0
        try:
            _, waves = nk.ecg_delineate(clean, peaks, sampling_rate=fs, method=method)
        except Exception:  # noqa: BLE001 - neurokit2 fails on some records
            waves = {}
    ms = 1000.0 / fs

    def interval(start: str, stop: str) -> float | None:
        a = np.asarray(waves.get(start, []), dtype=float)
        b = np.asarray(waves.get(stop, []), dtype=float)
        n = min(len(a), len(b))
        d = (b[:n] - a[:n]) * ms
        d = d[np.isfinite(d) & (d > 0)]
        return float(np.median(d)) if d.size else None

    return {
        "heart_rate_bpm": 60000.0 / float(rr.mean()) if rr.size else None,
        "pr_ms": interval("ECG_P_Onsets", "ECG_R_Onsets"),
        "qrs_ms": interval("ECG_R_Onsets", "ECG_R_Offsets"),
        "qt_ms": interval("ECG_R_Onsets", "ECG_T_Offsets"),
    }


def measure_after_e2e(signals: dict[str, np.ndarray], fs: int) -> dict[str, float | None]:
    """The record drawn as 12 per-lead paper images by the project's renderer (200 dpi, pink
    grid, lead label), digitized by the image stage's per-lead pipeline, and measured by the
    feature layer's code (features.ecg_measure) on the digitized leads that pass the stage's QC."""
    from cardioml_pipeline.features.ecg_measure import MeasurementError, measure_ecg

    render, digitize = _image_stage()
    digitized, rate = {}, None
    for k, (lead, x) in enumerate(signals.items()):
        y, y_fs = digitize(render(x, fs, lead, k))
        if y is not None:
            digitized[lead], rate = y, y_fs
    if not digitized:
        return {name: None for name in INTERVALS}
    try:
        m = measure_ecg(digitized, rate)
    except MeasurementError:
        return {name: None for name in INTERVALS}
    return {name: m[name] for name in INTERVALS}


def _image_stage() -> tuple[Callable, Callable]:
    """(render one lead to an image, digitize an image to (mV signal, Hz) or (None, None)) from
    whichever module paths exist in this checkout (the renderer is moving from ecg_images/ to demo/)."""
    import importlib

    for name in ("cardioml_pipeline.demo.render", "cardioml_pipeline.ecg_images.render"):
        try:
            render_module = importlib.import_module(name)
            break
        except ModuleNotFoundError:
            continue
    else:
        raise RuntimeError("the project's ECG renderer is in neither demo/ nor ecg_images/")
    from cardioml_pipeline.ecg_images.pipeline import process_lead_image

    def render(x: np.ndarray, fs: int, lead: str, seed: int) -> np.ndarray:
        spec = render_module.RenderSpec(dpi=200, grid=True, label=lead, seed=seed)
        return render_module.render_lead(x - np.median(x), fs, spec)

    def digitize(image: np.ndarray) -> tuple[np.ndarray | None, int | None]:
        lead = process_lead_image(image)
        if not lead.qc_passed or lead.signal_mv is None or len(lead.signal_mv) == 0:
            return None, None
        return np.asarray(lead.signal_mv, dtype=np.float64), int(lead.sampling_rate_hz)

    return render, digitize


METHODS: dict[str, Callable] = {
    "before": measure_before,
    "per-lead": measure_per_lead,
    "after": measure_after,
    "nk2-dwt": measure_neurokit2,
    "nk2-prominence": lambda signals, fs: measure_neurokit2(signals, fs, "prominence"),
    "after-e2e": measure_after_e2e,
}


# ---------------------------------------------------------------------------------------------


def _records(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def _stats(errors: list[float]) -> tuple[float, float]:
    if not errors:
        return math.nan, math.nan
    return float(np.median(errors)), float(np.percentile(errors, 90))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ludb", type=Path, default=LUDB_DEFAULT)
    parser.add_argument("--records", default="1-100")
    parser.add_argument("--methods", default="before,after,nk2-dwt,nk2-prominence")
    parser.add_argument("--per-record", action="store_true", help="print each record's errors")
    args = parser.parse_args(argv)
    data = args.ludb / "data"
    if not data.is_dir():
        print(f"LUDB not found at {data}", file=sys.stderr)
        return 2
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    errors = {m: {k: [] for k in INTERVALS} for m in methods}
    measured = {m: {k: 0 for k in INTERVALS} for m in methods}
    pr_without_p = {m: 0 for m in methods}
    records = [n for n in _records(args.records) if (data / f"{n}.hea").exists()]
    n_without_p = 0
    for n in records:
        path = data / str(n)
        ref = reference(path)
        signals, fs = read_signals(path)
        n_without_p += not ref["has_p"]
        line = [f"{n:>4}"]
        for method in methods:
            got = METHODS[method](signals, fs)
            for k in INTERVALS:
                if got.get(k) is not None:
                    measured[method][k] += 1
                if k == "pr_ms" and not ref["has_p"]:
                    pr_without_p[method] += got.get(k) is not None
                    continue
                if got.get(k) is not None and ref.get(k) is not None:
                    errors[method][k].append(abs(got[k] - ref[k]))
            if args.per_record:
                line.append(
                    f"{method}: " + " ".join(f"{k.split('_')[0]}={_fmt(got.get(k))}/{_fmt(ref.get(k))}" for k in INTERVALS)
                )
        if args.per_record:
            print("  ".join(line), flush=True)
    print(f"\nLUDB records {args.records}: {len(records)} records, {n_without_p} without P waves")
    header = f"{'interval':<16}" + "".join(f"{m:>22}" for m in methods)
    print(header)
    print(f"{'':<16}" + "".join(f"{'median / p90 (n)':>22}" for _ in methods))
    for k in INTERVALS:
        cells = []
        for m in methods:
            med, p90 = _stats(errors[m][k])
            cells.append(f"{med:.1f} / {p90:.1f} ({len(errors[m][k])})")
        print(f"{k + ' (' + UNITS[k] + ')':<16}" + "".join(f"{c:>22}" for c in cells))
    print(f"{'PR w/o P waves':<16}" + "".join(f"{str(pr_without_p[m]) + ' of ' + str(n_without_p):>22}" for m in methods))
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
