"""Realistic data-entry errors for the demo's clinical tables, so a new user sees the quarantine and
the checks at work: a mistyped number, a unit slip, an impossible vital sign, an unknown category,
a duplicated row.

Each error is chosen to be one the pipeline must catch (a value it cannot parse, a value outside the
column's plausible range, a category outside its vocabulary, an exact duplicate row), and only in
columns the table's contract stages (`clinical/tables.py`), so every injected error reaches
`quality.quarantine`. Pure functions over the rows about to be written; deterministic for a seed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from cardioml_pipeline.clinical.tables import TABLES, ColumnSpec, normalize_token

DEFAULT_ERROR_RATE = 0.01  # per row of each table: ~6 errors per table of 574 rows

MISTYPED_NUMBER = "mistyped number"
UNIT_SLIP = "unit slip"
IMPOSSIBLE_VITAL = "impossible vital sign"
UNKNOWN_CATEGORY = "unknown category"
DUPLICATED_ROW = "duplicated row"
ERROR_KINDS = (MISTYPED_NUMBER, UNIT_SLIP, IMPOSSIBLE_VITAL, UNKNOWN_CATEGORY, DUPLICATED_ROW)

# staged column -> (what was entered instead, conversion): each result is outside the column's range
UNIT_SLIPS = {
    "body_temperature": ("degF instead of degC", lambda c: c * 9 / 5 + 32),
    "creatinine": ("umol/L instead of mg/dL", lambda v: v * 88.4),
    "hemoglobin": ("g/L instead of g/dL", lambda v: v * 10),
    "platelets": ("per uL instead of 10^3/uL", lambda v: v * 1000),
}
# staged column -> values no living patient at triage has
IMPOSSIBLE_VITALS = {"pulse_rate": ("0", "420"), "spo2": ("104", "140"), "systolic_bp": ("0", "420"), "respiratory_rate": ("0", "150")}
# a digit typed with shift held (US keyboard)
_SHIFTED = dict(zip("1234567890", "!@#$%^&*()"))


@dataclass(frozen=True)
class InjectedError:
    table_file: str
    row: int  # 1 = first data row of the written file
    kind: str
    column: str | None  # staged column name (None for a duplicated row)
    original: str | None
    written: str | None


def _specs(table_file: str) -> dict[str, ColumnSpec]:
    table = next(t for t in TABLES if t.source_file == table_file)
    return {c.source: c for c in table.columns if c.name not in ("file_number", "record_number")}


def _in_range(spec: ColumnSpec, value: float) -> bool:
    return spec.valid_range is None or spec.valid_range[0] <= value <= spec.valid_range[1]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _candidates(header: tuple[str, ...], row: list[str], specs: dict[str, ColumnSpec]) -> dict[str, list[tuple[int, ColumnSpec]]]:
    """For one row, the columns each kind of error can hit (position in the row, spec)."""
    out: dict[str, list[tuple[int, ColumnSpec]]] = {kind: [] for kind in ERROR_KINDS}
    seen: set[str] = set()
    for position, source in enumerate(header):
        spec = specs.get(source)
        if spec is None or source in seen:
            continue
        seen.add(source)
        text = row[position]
        value = _number(text) if text else None
        if spec.kind in ("int", "float", "censored_float") and value is not None:
            out[MISTYPED_NUMBER].append((position, spec))
            if spec.name in UNIT_SLIPS and not _in_range(spec, UNIT_SLIPS[spec.name][1](value)):
                out[UNIT_SLIP].append((position, spec))
        if spec.name in IMPOSSIBLE_VITALS:
            out[IMPOSSIBLE_VITAL].append((position, spec))
        if spec.kind == "category" and spec.categories and text:
            out[UNKNOWN_CATEGORY].append((position, spec))
    return out


def _mistype(text: str, rng: np.random.Generator) -> str:
    """A slip on the keyboard: a digit typed with shift, O for 0, l for 1, or a doubled point."""
    options = [(i, _SHIFTED[c]) for i, c in enumerate(text) if c in _SHIFTED]
    options += [(i, {"0": "O", "1": "l", ".": ".."}[c]) for i, c in enumerate(text) if c in "01."]
    if not options:
        return text + "?"
    i, typed = options[int(rng.integers(len(options)))]
    return text[:i] + typed + text[i + 1 :]


def _unknown_category(text: str, spec: ColumnSpec, rng: np.random.Generator) -> str:
    """A typo of the value (two neighbouring letters swapped, or one dropped) outside the vocabulary."""
    known = set(spec.categories or {})
    letters = [i for i in range(1, len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha() and text[i] != text[i + 1]]
    for i in rng.permutation(letters) if letters else []:
        typo = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        if normalize_token(typo) not in known:
            return typo
    typo = re.sub(r"[aeiou]", "", text, count=1) or text + "x"
    return typo if normalize_token(typo) not in known else text + "?"


def inject_entry_errors(
    table_file: str, header: tuple[str, ...], rows: list[list[str]], rate: float, rng: np.random.Generator
) -> tuple[list[list[str]], list[InjectedError]]:
    """Rows with data-entry errors at ``rate`` per row (0 leaves them untouched), and what was done."""
    if not 0 <= rate <= 1:
        raise ValueError(f"error rate must be between 0 and 1, got {rate}")
    if rate == 0:
        return rows, []
    specs = _specs(table_file)
    rows = [list(row) for row in rows]
    count = int(rng.binomial(len(rows), rate))
    targets: dict[int, tuple[str, tuple[int, ColumnSpec] | None]] = {}
    per_row = [_candidates(header, row, specs) for row in rows] if count else []
    offered = [k for k in ERROR_KINDS if k == DUPLICATED_ROW or any(c[k] for c in per_row)]
    for _ in range(count):
        # the kind first, among those this table offers, so every kind shows up (sparse tables
        # have few values to spoil), then a row that offers it and is not hit yet
        kind = offered[int(rng.integers(len(offered)))]
        free = [i for i in rng.permutation(len(rows)) if i not in targets]
        for i in free:
            candidates = [None] if kind == DUPLICATED_ROW else per_row[i][kind]
            if candidates:
                targets[int(i)] = (kind, candidates[int(rng.integers(len(candidates)))])
                break
    out: list[list[str]] = []
    injected: list[InjectedError] = []
    for index, row in enumerate(rows):
        if index not in targets:
            out.append(row)
            continue
        kind, target = targets[index]
        if target is None:  # DUPLICATED_ROW
            out += [row, list(row)]
            injected.append(InjectedError(table_file, len(out), kind, None, None, None))
            continue
        position, spec = target
        original = row[position]
        if kind == MISTYPED_NUMBER:
            written = _mistype(original, rng)
        elif kind == UNIT_SLIP:
            converted = UNIT_SLIPS[spec.name][1](float(original))
            written = f"{converted:.0f}" if converted >= 100 else f"{converted:.1f}"
        elif kind == IMPOSSIBLE_VITAL:
            choices = IMPOSSIBLE_VITALS[spec.name]
            written = choices[int(rng.integers(len(choices)))]
        else:
            written = _unknown_category(original, spec, rng)
        row[position] = written
        out.append(row)
        injected.append(InjectedError(table_file, len(out), kind, spec.name, original, written))
    return out, injected
