"""Leak-free train/validation/test splits (70/15/15), deterministic for a seed.

Grouping: patients that share a hospital record number share their ECG labels (labels are keyed by
record number), so a group is all file numbers carrying one record number (a patient whose record
number is missing is a group of one). A group never spans two splits.

Stratification: each group's stratum is the rarest ECG finding any of its patients has (rarity =
number of labelled patients with the finding in this table; ties broken by name), `non_cardiac`
when the labels name no cardiac finding, `unlabelled` without labels. Within a stratum, groups are
ordered by death (the rarest outcome, a secondary stratum) and then by a seeded random key.

Assignment: strata are laid end to end (rarest first) and walked once with a largest-deficit rule:
each group goes to the split whose patient count is furthest below its target share of the patients
seen so far, starting from a seeded random phase. Every stratum (and every death sub-stratum) is
therefore split 70/15/15 up to one group, and the whole table up to one group; a stratum of one or
two groups lands wherever the phase puts it (so a rare finding reaches validation or test with the
right probability, not never).
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

SPLITS: tuple[str, ...] = ("train", "validation", "test")
FRACTIONS: tuple[float, ...] = (0.70, 0.15, 0.15)
DEFAULT_SEED = 0
UNLABELLED = "unlabelled"

SPLITS_SCHEMA: dict[str, pl.DataType] = {
    "file_number": pl.Int64,
    "record_number": pl.Int64,
    "split": pl.String,
    "group_key": pl.String,
    "stratum": pl.String,
    "seed": pl.Int64,
}
SPLIT_DESCRIPTIONS = {
    "file_number": "Patient file number (joins features.patient_features).",
    "record_number": "Hospital record number; every file number of a record number is in the same split.",
    "split": "train, validation or test (70/15/15).",
    "group_key": "The group kept together: 'record:<record number>', or 'file:<file number>' when the record number is missing.",
    "stratum": "Rarest ECG finding of the group (non_cardiac when no cardiac finding, unlabelled without labels).",
    "seed": "Seed the split was drawn with.",
}


def _random_key(seed: int, text: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{text}".encode()).digest()[:8], "big")


def assign_splits(
    frame: pl.DataFrame,
    finding_columns: list[str],
    seed: int = DEFAULT_SEED,
    secondary_column: str | None = "outcome_death",
    fractions: tuple[float, ...] = FRACTIONS,
) -> pl.DataFrame:
    """`frame` has file_number, record_number, 0/1/null finding columns (`target_<code>`) and
    optionally the secondary stratum column. Returns SPLITS_SCHEMA rows, one per file number."""
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    base = frame.select(
        pl.col("file_number").cast(pl.Int64),
        pl.col("record_number").cast(pl.Int64),
        *[pl.col(c).cast(pl.Int8) for c in finding_columns],
        (pl.col(secondary_column).fill_null(0).cast(pl.Int8) if secondary_column and secondary_column in frame.columns else pl.lit(0, pl.Int8)).alias("_secondary"),
    ).with_columns(
        pl.when(pl.col("record_number").is_null())
        .then(pl.format("file:{}", pl.col("file_number")))
        .otherwise(pl.format("record:{}", pl.col("record_number")))
        .alias("group_key")
    )
    # prevalence of each finding among labelled patients; rarest first (non_cardiac is not a finding)
    prevalence = {c: int(base[c].fill_null(0).sum()) for c in finding_columns}
    cardiac = [c for c in finding_columns if not c.endswith("non_cardiac")]
    rank = {c: i for i, c in enumerate(sorted(cardiac, key=lambda c: (prevalence[c], c)))}
    groups = base.group_by("group_key").agg(
        pl.col("file_number").len().alias("size"),
        *[pl.col(c).max().alias(c) for c in finding_columns],
        pl.col("_secondary").max(),
        pl.col("file_number").min().alias("_first"),
    )
    strata, order_keys = [], []
    for row in groups.iter_rows(named=True):
        present = [c for c in cardiac if row[c] == 1]
        labelled = any(row[c] is not None for c in finding_columns)
        if present:
            rarest = min(present, key=lambda c: rank[c])
            stratum, stratum_rank = rarest.removeprefix("target_"), rank[rarest]
        elif labelled:
            stratum, stratum_rank = "non_cardiac", len(rank)
        else:
            stratum, stratum_rank = UNLABELLED, len(rank) + 1
        strata.append(stratum)
        order_keys.append((stratum_rank, -int(row["_secondary"] or 0), _random_key(seed, row["group_key"])))
    groups = groups.with_columns(pl.Series("stratum", strata, dtype=pl.String))
    order = sorted(range(groups.height), key=lambda i: order_keys[i])

    targets = np.asarray(fractions, dtype=float)
    counts = np.zeros(len(targets))
    rng = np.random.default_rng(seed)
    # random phase: start as if a random number of patients (< 1 / smallest fraction) were placed
    phantom = int(rng.integers(0, int(np.ceil(1 / targets.min()))))
    for _ in range(phantom):
        counts[int(np.argmax(targets * (counts.sum() + 1) - counts))] += 1
    sizes = groups["size"].to_numpy()
    assignment = np.empty(groups.height, dtype=object)
    for i in order:
        size = int(sizes[i])
        deficit = targets * (counts.sum() + size) - counts
        k = int(np.argmax(deficit))
        assignment[i] = SPLITS[k]
        counts[k] += size
    groups = groups.with_columns(pl.Series("split", assignment.tolist(), dtype=pl.String))
    out = base.select("file_number", "record_number", "group_key").join(
        groups.select("group_key", "split", "stratum"), on="group_key", how="left"
    )
    return out.with_columns(pl.lit(seed, pl.Int64).alias("seed")).select(list(SPLITS_SCHEMA)).sort("file_number")


def split_summary(splits: pl.DataFrame) -> pl.DataFrame:
    """Patients and share per split."""
    total = max(splits.height, 1)
    return (
        splits.group_by("split")
        .agg(pl.len().alias("patients"), pl.col("group_key").n_unique().alias("groups"))
        .with_columns((pl.col("patients") / total).alias("share"))
        .sort(pl.col("split").replace_strict({s: i for i, s in enumerate(SPLITS)}, default=99))
    )


def leaking_groups(splits: pl.DataFrame) -> pl.DataFrame:
    """Record numbers found in more than one split (must be empty)."""
    return (
        splits.filter(pl.col("record_number").is_not_null())
        .group_by("record_number")
        .agg(pl.col("split").n_unique().alias("splits"))
        .filter(pl.col("splits") > 1)
    )
