"""QC metrics are declared once (`qc.QC_METRICS`): the verdict, the image index's columns and their
descriptions all follow that declaration."""

from __future__ import annotations

import math

import polars as pl
import pytest

from cardioml_pipeline.ecg_images import qc as Q
from cardioml_pipeline.ecg_images.index import INDEX_DESCRIPTIONS, INDEX_SCHEMA, QC_METRICS, SIGNAL_DESCRIPTIONS, SIGNAL_SCHEMA


def passing_metrics() -> dict[str, float]:
    """A lead every judged metric is content with: each bound met with room to spare."""
    metrics: dict[str, float] = {}
    for metric in Q.QC_METRICS:
        if metric.minimum is not None:
            metrics[metric.name] = metric.minimum * 1.5 + 1.0
        elif metric.maximum is not None:
            metrics[metric.name] = metric.maximum / 2
    metrics.update(trace_coverage=1.0, trace_span=1.0, heart_rate_bpm=72.0, px_per_mm_y=8.0, gain_mm_mv=10.0)
    metrics["calibration_pulse_height_px"] = 80.0  # 10 mm at 8 px/mm: 1 mV at 10 mm/mV
    return metrics


def test_a_passing_lead_has_no_reasons():
    assert Q.verdict(passing_metrics()) == []


@pytest.mark.parametrize("metric", [m for m in Q.QC_METRICS if m.minimum is not None or m.maximum is not None], ids=lambda m: m.name)
def test_each_bounded_metric_fails_the_lead_alone_with_its_own_reason(metric):
    metrics = passing_metrics()
    bound = metric.minimum if metric.minimum is not None else metric.maximum
    metrics[metric.name] = bound * 0.5 - 0.01 if metric.minimum is not None else bound * 2 + 0.01
    reasons = Q.verdict(metrics)
    assert len(reasons) == 1
    assert reasons[0] == metric.failure(metrics)
    # the metric just inside its bound passes again
    metrics[metric.name] = bound
    assert Q.verdict(metrics) == []


def test_rules_beyond_a_bound_judge_themselves():
    metrics = passing_metrics()
    metrics["heart_rate_bpm"] = 400.0
    assert Q.verdict(metrics) == ["heart rate 400 bpm outside 20-300"]
    metrics = passing_metrics()
    metrics["calibration_pulse_height_px"] = 40.0  # 5 mm: half the scale the grid says
    (reason,) = Q.verdict(metrics)
    assert "calibration pulse is 5.0 mm high" in reason
    metrics["calibration_source"] = "pulse"  # the pulse gave the scale: nothing to compare
    assert Q.verdict(metrics) == []


def test_missing_coverage_or_beats_fail_but_missing_optional_metrics_do_not():
    metrics = passing_metrics()
    metrics["beats_found"] = math.nan
    assert any("beats found" in r for r in Q.verdict(metrics))
    metrics = passing_metrics()
    for name in ("noise", "image_noise", "heart_rate_bpm", "calibration_pulse_height_px", "time_reversal"):
        metrics[name] = math.nan
    assert Q.verdict(metrics) == []


def test_the_index_columns_and_their_descriptions_follow_the_declaration():
    declared = [m.name for m in Q.QC_METRICS if m.indexed]
    assert list(QC_METRICS) == declared
    assert all(INDEX_SCHEMA[name] == pl.Float64 for name in declared)
    # the metrics QC judges are in the index, so a user can see why a lead failed
    assert {"trace_span", "off_trace_ink", "image_noise"} <= set(INDEX_SCHEMA)
    for name in declared:
        assert INDEX_DESCRIPTIONS[name] == Q.QC_METRIC_BY_NAME[name].description
    assert set(INDEX_SCHEMA) <= set(INDEX_DESCRIPTIONS), set(INDEX_SCHEMA) - set(INDEX_DESCRIPTIONS)
    assert set(SIGNAL_SCHEMA) <= set(SIGNAL_DESCRIPTIONS)
    # a threshold stated in a description is the one the verdict uses
    assert f"{Q.MAX_REVERSAL:.0f}" in Q.QC_METRIC_BY_NAME["time_reversal"].description


def test_the_image_checks_are_described_in_the_definitions():
    from cardioml_pipeline.ecg_images.assets import CHECK_DESCRIPTIONS, image_definitions

    defs = image_definitions()
    described = {}
    for asset in defs.assets or []:
        for spec in getattr(asset, "check_specs", []):
            described[spec.name] = spec.description
    assert described == CHECK_DESCRIPTIONS
    assert f"trace_coverage >= {Q.MIN_COVERAGE:g}" in described["qc_verdicts"]


def test_a_short_segment_needs_the_beats_its_duration_can_hold():
    """A page's 2.5 s segment holds 2-3 beats: it passes with two (every such segment failed before);
    a 10 s strip still needs four, and a signal of unknown length too."""
    assert Q.required_beats(2.5) == 2 and Q.required_beats(10.0) == Q.MIN_BEATS and Q.required_beats(None) == Q.MIN_BEATS
    metrics = passing_metrics()
    metrics.update(beats_found=2.0, duration_s=2.5)
    assert Q.verdict(metrics) == []
    metrics.update(beats_found=1.0)
    assert Q.verdict(metrics) == ["1 beats found (< 2)"]
    metrics.update(beats_found=3.0, duration_s=10.0)
    assert Q.verdict(metrics) == ["3 beats found (< 4)"]
