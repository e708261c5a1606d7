"""Split guarantees as pure functions: grouped by record number, 70/15/15, stratified, deterministic."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cardioml_pipeline.features.splits import SPLITS, assign_splits, leaking_groups, split_summary

FINDINGS = ["target_non_cardiac", "target_ischemia", "target_tachycardia", "target_left_bundle_branch_block", "target_sinus_bradycardia"]
PREVALENCE = {"target_ischemia": 0.15, "target_tachycardia": 0.07, "target_left_bundle_branch_block": 0.03, "target_sinus_bradycardia": 0.01}


def cohort(n: int = 581, seed: int = 1) -> pl.DataFrame:
    """Patients like the real table: ~60 % labelled, a few pairs sharing a record number (with the
    same labels), a few missing record numbers, rare findings, ~2 % deaths."""
    rng = np.random.default_rng(seed)
    records = np.arange(1, n + 1) * 10
    for i in range(20, n - 1, 47):  # pairs share a record number
        records[i + 1] = records[i]
    labelled = rng.random(n) < 0.6
    columns = {}
    for name, p in PREVALENCE.items():
        columns[name] = np.where(labelled, (rng.random(n) < p).astype(int), -1)
    cardiac = np.zeros(n, dtype=bool)
    for name in PREVALENCE:
        cardiac |= columns[name] == 1
    columns["target_non_cardiac"] = np.where(labelled, (~cardiac).astype(int), -1)
    for i in range(20, n - 1, 47):  # partners share labels
        for name in columns:
            columns[name][i + 1] = columns[name][i]
    frame = pl.DataFrame({"file_number": np.arange(1001, 1001 + n), "record_number": records, **columns, "outcome_death": (rng.random(n) < 0.02).astype(int)})
    frame = frame.with_columns([pl.when(pl.col(c) < 0).then(None).otherwise(pl.col(c)).alias(c) for c in FINDINGS])
    return frame.with_columns(pl.when(pl.col("file_number").is_in([1005, 1006])).then(None).otherwise(pl.col("record_number")).alias("record_number"))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_record_number_in_two_splits_and_proportions_within_2_points(seed):
    frame = cohort()
    splits = assign_splits(frame, FINDINGS, seed=seed)
    assert splits.height == frame.height and splits["file_number"].n_unique() == frame.height
    assert leaking_groups(splits).height == 0
    shared = splits.filter(pl.col("record_number").is_not_null()).group_by("record_number").agg(pl.len(), pl.col("split").n_unique().alias("splits"))
    assert shared.filter(pl.col("len") > 1).height == 12 and shared["splits"].max() == 1
    shares = dict(split_summary(splits).select("split", "share").iter_rows())
    for name, target in zip(SPLITS, (0.70, 0.15, 0.15)):
        assert abs(shares[name] - target) <= 0.02, shares
    # patients without a record number are groups of their own
    assert set(splits.filter(pl.col("record_number").is_null())["group_key"]) == {"file:1005", "file:1006"}


def test_deterministic_for_a_seed_and_different_across_seeds():
    frame = cohort()
    first, again = assign_splits(frame, FINDINGS, seed=3), assign_splits(frame.sample(fraction=1.0, shuffle=True, seed=9), FINDINGS, seed=3)
    assert first.equals(again)  # the row order of the input does not matter either
    other = assign_splits(frame, FINDINGS, seed=4)
    assert not first.select("split").equals(other.select("split"))


def test_each_stratum_is_split_proportionally():
    frame = cohort(n=3000, seed=2)
    splits = assign_splits(frame, FINDINGS, seed=0)
    counts = splits.group_by("stratum", "split").len().pivot(on="split", index="stratum", values="len").fill_null(0)
    for row in counts.iter_rows(named=True):
        total = sum(row.get(s, 0) for s in SPLITS)
        for name, target in zip(SPLITS, (0.70, 0.15, 0.15)):
            assert abs(row.get(name, 0) - target * total) <= 2.5, row  # one group (of up to 2) either way
    strata = set(splits["stratum"])
    assert {"sinus_bradycardia", "left_bundle_branch_block", "tachycardia", "ischemia", "non_cardiac", "unlabelled"} <= strata


def test_the_stratum_is_the_rarest_finding():
    frame = cohort()
    splits = assign_splits(frame, FINDINGS, seed=0).join(frame, on="file_number")
    both = splits.filter((pl.col("target_sinus_bradycardia") == 1) & (pl.col("target_ischemia") == 1))
    assert set(both["stratum"]) <= {"sinus_bradycardia"}
    unlabelled = splits.filter(pl.col("target_non_cardiac").is_null())
    assert set(unlabelled["stratum"]) == {"unlabelled"}


def test_deaths_are_spread_over_the_splits():
    frame = cohort(n=2000, seed=5)
    splits = assign_splits(frame, FINDINGS, seed=0).join(frame.select("file_number", "outcome_death"), on="file_number")
    deaths = dict(splits.filter(pl.col("outcome_death") == 1).group_by("split").len().iter_rows())
    total = sum(deaths.values())
    assert all(abs(deaths.get(name, 0) - share * total) <= 4 for name, share in zip(SPLITS, (0.70, 0.15, 0.15))), deaths


def test_fractions_must_sum_to_one():
    with pytest.raises(ValueError):
        assign_splits(cohort(), FINDINGS, fractions=(0.7, 0.2, 0.2))
