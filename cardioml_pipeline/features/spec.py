"""The feature specification shared by every feature module: one `FeatureSpec` per column of
`features.patient_features`, the single source of the feature dictionary, the Parquet field
metadata and the column lineage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

Role = Literal["id", "feature", "target", "outcome"]

# warehouse table -> the Dagster asset key path that writes it (staging.ecg_signals is a view the
# image stage's `images/ecg_signals` asset creates)
TABLE_ASSET_KEYS: dict[str, tuple[str, ...]] = {"staging.ecg_signals": ("images", "ecg_signals")}


def asset_key_path(table: str) -> tuple[str, ...]:
    if table in TABLE_ASSET_KEYS:
        return TABLE_ASSET_KEYS[table]
    schema, _, name = table.partition(".")
    return (schema, name)


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    dtype: pl.DataType
    role: Role
    group: str  # id, demographics, vitals, derived, labs, missingness, history, ecg, ecg_lead, target, outcome
    description: str
    sources: tuple[tuple[str, str], ...]  # (warehouse table, column) the value is computed from
    unit: str | None = None
    formula: str | None = None

    @property
    def source_tables(self) -> list[str]:
        return sorted({table for table, _ in self.sources})

    @property
    def source_columns(self) -> list[str]:
        return sorted({f"{table}.{column}" for table, column in self.sources})
