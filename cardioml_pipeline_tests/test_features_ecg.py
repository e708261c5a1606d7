"""ECG feature extraction as pure functions: neurokit2-simulated strips with known heart rates,
beats built with known intervals, degenerate signals, and a Parquet file in the
staging.ecg_signals contract."""

from __future__ import annotations

import warnings

import neurokit2 as nk
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cardioml_pipeline.features.ecg import (
    LEAD_TABLE_SCHEMA,
    LEADS,
    extract_lead_features,
    lead_column,
    lead_features,
    patient_ecg_columns,
    patient_ecg_features,
)

FS = 500


def bump(t_ms: np.ndarray, center: float, width: float, amplitude: float) -> np.ndarray:
    """A Hann-shaped wave with compact support [center - width/2, center + width/2] (ms)."""
    u = (t_ms - center) / width
    return np.where(np.abs(u) <= 0.5, amplitude * 0.5 * (1 + np.cos(2 * np.pi * u)), 0.0)


def beats(hr=70.0, seconds=10.0, pr=160.0, qrs=90.0, qt=380.0, r=1.2, s=-0.3, st=0.0, p=0.15, t_amp=0.3, noise=0.02, seed=0) -> np.ndarray:
    """A strip whose waves start and end exactly where stated: P onset at QRS onset - pr, QRS of
    `qrs` ms (q, R, S), ST level `st` (mV), T wave ending at QRS onset + qt."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS * 1000.0
    x = np.zeros_like(t)
    onset = 300.0
    while onset < t[-1] - 50:
        x += bump(t, onset - pr + 50, 100, p)
        x += bump(t, onset + 0.15 * qrs, 0.3 * qrs, -0.1)
        x += bump(t, onset + 0.45 * qrs, 0.4 * qrs, r)
        x += bump(t, onset + 0.80 * qrs, 0.4 * qrs, s)
        x += np.where((t >= onset + qrs) & (t < onset + qt - 160), st, 0.0)
        x += bump(t, onset + qt - 80, 160, t_amp + st)
        onset += 60000.0 / hr * (1 + rng.normal(0, 0.01))
    return (x + rng.normal(0, noise, len(t)) + 0.05 * np.sin(2 * np.pi * 0.3 * t / 1000)).astype(np.float32)


@pytest.mark.parametrize("heart_rate", [45, 60, 75, 110, 140])
def test_heart_rate_of_neurokit2_simulations(heart_rate):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signal = nk.ecg_simulate(duration=10, sampling_rate=FS, heart_rate=heart_rate, random_state=heart_rate)
    features = lead_features(signal, FS)
    assert features["heart_rate_bpm"] == pytest.approx(heart_rate, abs=2)
    assert features["rr_mean_ms"] == pytest.approx(60000 / heart_rate, rel=0.03)
    assert features["n_beats"] >= int(10 * heart_rate / 60) - 1
    assert 0 <= features["rr_sdnn_ms"] < 60
    assert features["qc_passed"] == 1 and features["qc_reasons"] == []
    assert features["signal_quality"] > 0.9


def test_intervals_and_amplitudes_of_beats_with_known_timing():
    features = lead_features(beats(hr=70, pr=160, qrs=90, qt=380), FS)
    assert features["qrs_ms"] == pytest.approx(90, abs=12)
    assert features["pr_ms"] == pytest.approx(160, abs=15)
    # the tangent method ends the T wave before its last, flat tail: a little short, never long
    assert 340 <= features["qt_ms"] <= 390
    assert features["qtc_ms"] == pytest.approx(features["qt_ms"] / np.sqrt(features["rr_mean_ms"] / 1000), rel=1e-9)
    assert features["r_amplitude_mv"] == pytest.approx(1.2, abs=0.5)
    assert -0.5 < features["s_amplitude_mv"] < 0
    assert abs(features["st_deviation_mv"]) < 0.05


def test_wide_qrs_long_pr_and_st_elevation_are_measured():
    narrow = lead_features(beats(qrs=90), FS)["qrs_ms"]
    wide = lead_features(beats(qrs=150, qt=440), FS)["qrs_ms"]
    assert wide >= 120 > narrow
    assert lead_features(beats(pr=280), FS)["pr_ms"] == pytest.approx(280, abs=25)
    assert lead_features(beats(st=0.2), FS)["st_deviation_mv"] == pytest.approx(0.2, abs=0.05)
    assert lead_features(beats(qt=460), FS)["qt_ms"] > lead_features(beats(qt=380), FS)["qt_ms"] + 50


def test_an_inverted_lead_gives_the_same_rate_and_intervals():
    upright, inverted = lead_features(beats(), FS), lead_features(-beats(), FS)
    assert inverted["heart_rate_bpm"] == pytest.approx(upright["heart_rate_bpm"], abs=0.5)
    assert inverted["qrs_ms"] == pytest.approx(upright["qrs_ms"], abs=6)
    assert inverted["qc_passed"] == 1


def test_a_four_beat_strip_is_enough():
    features = lead_features(beats(hr=70, seconds=4), FS)
    assert features["qc_passed"] == 1 and features["n_beats"] >= 4


@pytest.mark.parametrize(
    "signal, reason",
    [
        (np.zeros(5000, dtype=np.float32), "flat signal"),
        (np.full(400, 0.1, dtype=np.float32), "signal shorter than"),
        (np.random.default_rng(0).normal(0, 0.3, 5000).astype(np.float32), "signal quality"),
        (np.where(np.arange(5000) % 7 == 0, np.nan, beats()).astype(np.float32), "samples missing"),
    ],
    ids=["flat", "short", "noise", "gaps"],
)
def test_unusable_signals_fail_qc_with_a_reason_and_never_raise(signal, reason):
    features = lead_features(signal, FS)
    assert features["qc_passed"] == 0
    assert any(reason in r for r in features["qc_reasons"]), features["qc_reasons"]


def test_a_few_missing_samples_are_interpolated():
    signal = beats()
    signal[1000:1010] = np.nan
    assert lead_features(signal, FS)["qc_passed"] == 1


def test_the_digitizer_verdict_fails_the_lead_but_keeps_its_measurements():
    features = lead_features(beats(), FS, digitizer_qc_passed=False)
    assert features["qc_passed"] == 0 and features["qc_reasons"] == ["digitizer QC failed"]
    assert features["heart_rate_bpm"] == pytest.approx(70, abs=2)


def contract_table(rows: list[dict]) -> pa.Table:
    """Rows in the staging.ecg_signals Parquet contract (exact Arrow types)."""
    schema = pa.schema(
        [
            ("file_number", pa.int64()),
            ("lead", pa.string()),
            ("sampling_rate_hz", pa.int32()),
            ("signal_mv", pa.list_(pa.float32())),
            ("calibration_source", pa.string()),
            ("qc_passed", pa.bool_()),
            ("qc_reasons", pa.list_(pa.string())),
            ("source_sha256", pa.string()),
            ("processing_version", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def signal_row(file_number: int, lead: str, signal: np.ndarray, qc_passed: bool = True) -> dict:
    return {
        "file_number": file_number,
        "lead": lead,
        "sampling_rate_hz": FS,
        "signal_mv": signal.astype(np.float32).tolist(),
        "calibration_source": "grid",
        "qc_passed": qc_passed,
        "qc_reasons": [] if qc_passed else ["trace lost"],
        "source_sha256": f"sha-{file_number}-{lead}",
        "processing_version": "test-1",
    }


def test_lead_features_from_a_parquet_file_in_the_signal_contract(tmp_path):
    rows = [signal_row(1001, lead, beats(hr=52, seed=i)) for i, lead in enumerate(("I", "II", "V1"))]
    rows.append(signal_row(1001, "V6", beats(hr=52), qc_passed=False))
    rows += [signal_row(1002, lead, beats(hr=120, qrs=150, qt=330, seed=i)) for i, lead in enumerate(LEADS)]
    rows.append(signal_row(1002, "II", beats(hr=60)))  # a duplicate (file_number, lead): the first wins
    rows.append(signal_row(1003, "lead_13", beats()))  # not a lead: ignored
    path = tmp_path / "signals" / "patient_batch.parquet"
    path.parent.mkdir()
    pq.write_table(contract_table(rows), path)

    table = extract_lead_features(pl.read_parquet(path))
    assert table.schema == pl.Schema(LEAD_TABLE_SCHEMA)
    assert table.height == 4 + 12
    assert table.filter(pl.col("file_number") == 1002)["heart_rate_bpm"].min() > 110
    v6 = table.filter((pl.col("file_number") == 1001) & (pl.col("lead") == "V6")).row(0, named=True)
    assert v6["qc_passed"] == 0 and v6["digitizer_qc_passed"] is False and v6["source_sha256"] == "sha-1001-V6"

    wide = patient_ecg_features(table, pl.Series([1001, 1002, 1004]))
    assert wide.columns == ["file_number"] + [name for name, _ in patient_ecg_columns()]
    by_patient = {row["file_number"]: row for row in wide.iter_rows(named=True)}
    assert by_patient[1001]["ecg_leads_available"] == 4 and by_patient[1001]["ecg_leads_passed"] == 3
    assert by_patient[1001]["ecg_heart_rate_bpm"] == pytest.approx(52, abs=2)
    assert by_patient[1001][lead_column("V6", "qc_passed")] == 0
    assert by_patient[1002]["ecg_qrs_ms"] >= 120 and by_patient[1002]["ecg_leads_passed"] == 12
    assert by_patient[1004]["ecg_leads_available"] == 0 and by_patient[1004]["ecg_heart_rate_bpm"] is None


def test_no_signals_give_an_empty_table_and_null_features():
    table = extract_lead_features(pl.DataFrame())
    assert table.height == 0 and table.schema == pl.Schema(LEAD_TABLE_SCHEMA)
    wide = patient_ecg_features(table, pl.Series([1, 2]))
    assert wide["ecg_leads_available"].to_list() == [0, 0]
    assert wide.select(pl.exclude("file_number", "ecg_leads_available", "ecg_leads_passed")).null_count().row(0) == tuple([2] * (wide.width - 3))


def test_a_page_segment_with_too_few_beats_says_so_instead_of_guessing():
    """A whole page's 2.5 s segment at 60 bpm holds 2 beats: one RR interval is no heart rate and
    two beats no median beat, so nothing is measured and the reason says why; a segment with 3
    beats is measured."""
    from cardioml_pipeline.demo.synth import synthesize_12_lead

    signals = synthesize_12_lead([], 60, seed=3)
    two = lead_features(signals["V2"][1250:2500], 500)
    assert two["n_beats"] == 2
    assert two["qc_passed"] == 0 and any("too few beats" in reason for reason in two["qc_reasons"])
    assert two["heart_rate_bpm"] is None and two["rr_mean_ms"] is None and two["qrs_ms"] is None and two["signal_quality"] is None
    three = lead_features(signals["II"][1250:2500], 500)
    assert three["n_beats"] == 3 and three["qc_passed"] == 1 and 55 <= three["heart_rate_bpm"] <= 70
