"""Deterministic demo dataset in the exact layout, and with the quirks, of the real CARDIO-ML tables.

`generate_demo_patients` draws the per-patient truth (identifiers, ECG findings, every clinical value
already written as the text the CSVs carry); `write_demo_dataset` writes that truth as the ten
`Clinical_Data/*.csv` tables plus `ECG Labels.csv`, and creates an empty `ECG_Images/` folder.

Everything random comes from `numpy.random.default_rng([seed, crc32(stream name)])`, one stream per
aspect (record numbers, labels, vitals, each lab panel, ...), so a given (patients, seed) always
gives the same bytes. Distributions are the aggregate statistics in `params.py`, measured on the
real tables; no real row is reproduced.

Layout reproduced from the real files (see params.TABLE_HEADERS and the quirks listed there):
- header exactly as published: `Patient's file number` twice (file number, then hospital record
  number), trailing spaces (`Initial diagnosis `), typos (`BS (Blood suger)`);
- UTF-8 without BOM, CRLF line ends (as the real export), comma separated, fields quoted only when
  they contain a comma (csv.QUOTE_MINIMAL);
- table 01 holds, for each patient, the same text as tables 02-10 for every shared column name;
- `ECG Labels.csv`: no header, CRLF, rows `<key>, <label text>`; the key is the record number,
  `-1`, `-2`, ... for records with several ECGs; a few keys match no patient.
"""

from __future__ import annotations

import csv
import functools
import zlib
from pathlib import Path
from statistics import NormalDist

import numpy as np
import polars as pl

from cardioml_pipeline.demo import params as P

CLINICAL_TABLE_FILES: tuple[str, ...] = tuple(P.TABLE_HEADERS)
MAX_PATIENTS = 100_000

# columns of the clinical tables other than the two identifiers, in table-01 order, then the two
# columns only the detail tables have
CLINICAL_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(c for header in P.TABLE_HEADERS.values() for c in header[2:])
)

_NUMERIC = tuple(P.NUMERIC_QUANTILES)
_FINDING_INDEX = {code: i for i, code in enumerate(P.FINDING_CODES)}
_LABEL_TEXTS = tuple(v[0] for v in P.LABEL_VARIANTS)
_LABEL_FINDINGS = tuple(v[1] for v in P.LABEL_VARIANTS)
_LABEL_WEIGHTS = np.array([v[2] for v in P.LABEL_VARIANTS], dtype=float) / sum(v[2] for v in P.LABEL_VARIANTS)
_LABEL_IS_CARDIAC = np.array([f != ("non_cardiac",) for f in _LABEL_FINDINGS])
# +1 fast rate, -1 slow rate, 0 neither: two ECGs of one record never disagree on the rate
_LABEL_RATE = np.array(
    [1 if set(f) & set(P.TACHYCARDIA_FINDINGS) else -1 if set(f) & set(P.BRADYCARDIA_FINDINGS) else 0 for f in _LABEL_FINDINGS]
)

# field blocks a shared-record pair copies together (second row = first row, block by block)
_VITALS = ("Pulse rate (PR)", "Respiratory rate (RR)", "Body temperature (T)", "Oxygen saturation (%SpO2)", "Triage level")
_PAIR_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("Initial diagnosis ",),
    ("Final diagnosis",),
    ("Death", "Cause of death", "Patient Status on Discharge"),
    ("Method of referral ",),
    ("Emergency room visits in the past 24 hours ",),
    ("Treatment actions",),
    ("Systolic blood pressure ", "Diastolic blood pressure"),
    *((c,) for c in _VITALS),
    *(spec[0] for spec in P.LAB_PANELS.values()),
    ("Previous hospitalizations",),
    ("Previous surgeries",),
    ("Previous diseases",),
)


def _check_arguments(patients: object, seed: object) -> tuple[int, int]:
    if isinstance(patients, bool) or not isinstance(patients, (int, np.integer)) or not 1 <= patients <= MAX_PATIENTS:
        raise ValueError(f"patients must be an integer from 1 to {MAX_PATIENTS}, got {patients!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(patients), int(seed)


class _Streams:
    """Independent, named random streams: adding a draw to one aspect leaves the others unchanged."""

    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode("utf-8"))])


def _choice(rng: np.random.Generator, options: tuple, size: int) -> np.ndarray:
    """Draw `size` values from ((value, weight), ...) as an object array."""
    values = np.empty(len(options), dtype=object)
    values[:] = [o[0] for o in options]
    weights = np.array([o[1] for o in options], dtype=float)
    return values[rng.choice(len(options), size=size, p=weights / weights.sum())]


def _per_bin(value, bins: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=float)[bins] if isinstance(value, tuple) else np.full(len(bins), float(value))


def _odds_shift(p: np.ndarray, odds: float | np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    o = p / (1 - p) * odds
    return o / (1 + o)


# --- record numbers ---------------------------------------------------------------------------------


def _record_numbers(n: int, bins: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ascending record numbers: 1..k for the early block, then hospital numbers with realistic
    gaps; a few adjacent rows share one number. Returns (record numbers, first row of each pair)."""
    early = int((bins == 0).sum())  # positions are monotone, so the early block is a prefix
    records = np.empty(n, dtype=np.int64)
    records[:early] = np.arange(1, early + 1)
    main = n - early
    pair_first = np.empty(0, dtype=np.int64)
    if main == 0:
        return records, pair_first
    first_allowed = max(early, int(np.ceil(P.SHARED_RECORD_MIN_POSITION * n)))
    slots = n - 1 - first_allowed  # candidate first rows: first_allowed .. n-2
    n_pairs = int(round(n * P.SHARED_RECORD_PAIRS_PER_PATIENT))
    n_pairs = min(n_pairs, (slots + 1) // 2) if slots > 0 else 0
    if n_pairs:
        spread = np.sort(rng.choice(slots - n_pairs + 1, size=n_pairs, replace=False))
        pair_first = first_allowed + spread + np.arange(n_pairs)  # pairs never touch each other
    distinct = main - n_pairs
    gaps = np.maximum(1, np.rint(np.interp(rng.random(distinct), P.QUANTILE_PROBS, P.RECORD_GAP_QUANTILES))).astype(np.int64)
    start = int(rng.integers(*P.RECORD_MAIN_START))
    numbers = start + np.cumsum(gaps)
    counts = np.ones(distinct, dtype=np.int64)
    counts[pair_first - early - np.arange(n_pairs)] = 2
    records[early:] = np.repeat(numbers, counts)
    return records, pair_first


# --- ECG labels ---------------------------------------------------------------------------------------


def _draw_labels(records: np.ndarray, pair_first: np.ndarray, bins: np.ndarray, rng: np.random.Generator):
    """Label rows of every record (several ECGs for some), plus keys that match no patient.

    Returns (per-patient lists: keys, texts, findings per ECG) and the label rows in file order."""
    n = len(records)
    unique, first_row = np.unique(records, return_index=True)
    r = len(unique)
    labelled = rng.random(r) < np.asarray(P.LABELLED_BY_BIN)[bins[first_row]]
    primary = rng.choice(len(_LABEL_TEXTS), size=r, p=_LABEL_WEIGHTS)
    cardiac = _LABEL_IS_CARDIAC[primary]
    multi = rng.random(r) < np.where(cardiac, P.MULTI_ECG_IF_CARDIAC, P.MULTI_ECG_IF_NON_CARDIAC)
    count = np.where(multi, 2 + (rng.random(r) < P.THREE_ECGS_GIVEN_MULTI), 1)
    differing = multi & (rng.random(r) < P.MULTI_ECG_DIFFERING_LABELS)
    alternative = rng.choice(len(_LABEL_TEXTS), size=r, p=_LABEL_WEIGHTS)
    for _ in range(20):  # redraw alternatives naming the primary's findings or the opposite rate
        bad = np.flatnonzero(differing)
        bad = bad[
            [
                _LABEL_FINDINGS[alternative[j]] == _LABEL_FINDINGS[primary[j]] or _LABEL_RATE[alternative[j]] * _LABEL_RATE[primary[j]] < 0
                for j in bad
            ]
        ]
        if len(bad) == 0:
            break
        alternative[bad] = rng.choice(len(_LABEL_TEXTS), size=len(bad), p=_LABEL_WEIGHTS)
    else:  # practically unreachable; keep the record consistent anyway
        differing[bad] = False
    alternative_at = (rng.random(r) * count).astype(np.int64)
    reverse_two = rng.random(r) < P.TWO_ECGS_LISTED_2_THEN_1

    patient_keys: list[list[str]] = [[] for _ in range(n)]
    patient_texts: list[list[str]] = [[] for _ in range(n)]
    patient_findings: list[list[list[str]]] = [[] for _ in range(n)]
    rows: list[tuple[float, int, str, str, int, int, bool]] = []  # sort key, order, key, text, record, ecg index, matched
    pair_second = set((pair_first + 1).tolist())
    for j in np.flatnonzero(labelled):
        rec = int(unique[j])
        k = int(count[j])
        variants = [int(primary[j])] * k
        if differing[j]:
            variants[int(alternative_at[j])] = int(alternative[j])
        keys = [str(rec)] if k == 1 else [f"{rec}-{i + 1}" for i in range(k)]
        order = list(range(k))
        if k == 2 and reverse_two[j]:
            order = [1, 0]
        for position, i in enumerate(order):
            rows.append((float(rec), position, keys[i], _LABEL_TEXTS[variants[i]], rec, i + 1, True))
        members = [int(first_row[j])]
        if members[0] + 1 in pair_second:
            members.append(members[0] + 1)
        for m in members:
            patient_keys[m] = keys
            patient_texts[m] = [_LABEL_TEXTS[v] for v in variants]
            patient_findings[m] = [list(_LABEL_FINDINGS[v]) for v in variants]

    # keys matching no patient: numbers inside gaps between record numbers, and typos (extra digit)
    n_unmatched = int(rng.binomial(int(labelled.sum()), P.UNMATCHED_KEYS_PER_LABELLED_RECORD))
    used = set(unique.tolist())
    main = unique[unique >= P.RECORD_MAIN_START[0]]
    if len(main) == 0:
        main = unique
    gap_after = np.flatnonzero(np.diff(main) >= 2)
    typo = rng.random(n_unmatched) < P.UNMATCHED_KEY_TYPO
    picks = rng.random(n_unmatched)
    offsets = rng.random(n_unmatched)
    digits = rng.integers(0, 10, size=n_unmatched)
    texts = rng.choice(len(_LABEL_TEXTS), size=n_unmatched, p=_LABEL_WEIGHTS)
    for u in range(n_unmatched):
        if typo[u]:
            source = int(main[int(picks[u] * len(main))])
            number, sort_key = source * 10 + int(digits[u]), source + 0.5
        elif len(gap_after):
            i = int(gap_after[int(picks[u] * len(gap_after))])
            low, high = int(main[i]), int(main[i + 1])
            number = low + 1 + int(offsets[u] * (high - low - 1))
            sort_key = float(number)
        else:
            number = int(unique.max()) + 1 + int(offsets[u] * 1000)
            sort_key = float(number)
        if number in used:
            continue
        used.add(number)
        rows.append((sort_key, 0, str(number), _LABEL_TEXTS[int(texts[u])], number, 1, False))

    rows.sort(key=lambda row: (row[0], row[1]))
    labels = pl.DataFrame(
        {
            "key": [row[2] for row in rows],
            "label_text": [row[3] for row in rows],
            "record_number": [row[4] for row in rows],
            "ecg_index": [row[5] for row in rows],
            "matched": [row[6] for row in rows],
            "findings": [list(_LABEL_FINDINGS[_LABEL_TEXTS.index(row[3])]) for row in rows],
        },
        schema={
            "key": pl.String,
            "label_text": pl.String,
            "record_number": pl.Int64,
            "ecg_index": pl.Int64,
            "matched": pl.Boolean,
            "findings": pl.List(pl.String),
        },
    )
    return patient_keys, patient_texts, patient_findings, labels


def _patient_findings(per_ecg: list[list[str]]) -> list[str]:
    """Findings of a patient: every finding of any ECG (first appearance order); `non_cardiac` only
    when no ECG names a cardiac finding."""
    seen = list(dict.fromkeys(code for ecg in per_ecg for code in ecg))
    cardiac = [code for code in seen if code != "non_cardiac"]
    return cardiac if cardiac else seen


# --- numeric values -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _copula_factor() -> np.ndarray:
    names = ("male",) + _NUMERIC
    index = {name: i for i, name in enumerate(names)}
    corr = np.eye(len(names))
    for a, b, value in P.LATENT_CORRELATIONS:
        corr[index[a], index[b]] = corr[index[b], index[a]] = value
    # the pairwise estimates need not form a valid correlation matrix: clip eigenvalues, rescale
    eigenvalues, vectors = np.linalg.eigh(corr)
    corr = (vectors * np.clip(eigenvalues, 1e-3, None)) @ vectors.T
    scale = np.sqrt(np.diag(corr))
    corr = corr / np.outer(scale, scale)
    return np.linalg.cholesky(corr)


@functools.lru_cache(maxsize=1)
def _normal_grid() -> np.ndarray:
    normal = NormalDist()
    return np.array([normal.inv_cdf(min(max(p, 0.0005), 0.9995)) for p in P.QUANTILE_PROBS])


def _latent_values(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    factor = _copula_factor()
    z = rng.standard_normal((n, factor.shape[0])) @ factor.T
    male = z[:, 0] > NormalDist().inv_cdf(1 - P.MALE_SHARE)
    grid = _normal_grid()
    values = {name: np.interp(z[:, i + 1], grid, P.NUMERIC_QUANTILES[name]) for i, name in enumerate(_NUMERIC)}
    return male, values


def _decimals(step: float) -> int:
    text = repr(float(step))
    return 0 if float(step).is_integer() else len(text.split(".")[1])


def _round_to_habits(name: str, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round each value to one of the column's recording steps; NaN stays NaN."""
    steps = P.NUMERIC_STEPS[name]
    choice = rng.choice(len(steps), size=len(values), p=np.array([p for _, p in steps]) / sum(p for _, p in steps))
    out = np.array(values, dtype=float)
    low, high = P.NUMERIC_QUANTILES[name][0], P.NUMERIC_QUANTILES[name][-1]
    for k, (step, _) in enumerate(steps):
        sel = choice == k
        out[sel] = np.round(np.round(out[sel] / step) * step, _decimals(step))
    out = np.clip(out, low, high) + 0.0  # + 0.0 turns -0.0 into 0.0
    return out


def _number_text(values: np.ndarray) -> np.ndarray:
    """Numbers as Excel exports them: shortest form, no trailing zeros, empty (None) for NaN."""
    series = pl.Series(values, dtype=pl.Float64).fill_nan(None).cast(pl.String).str.replace(r"\.0$", "")
    out = np.empty(len(values), dtype=object)
    out[:] = series.to_list()
    return out


# --- free-text lists ------------------------------------------------------------------------------------


def _weighted_order(keys: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise weighted sampling without replacement (Efraimidis-Spirakis): column indices in
    draw order; zero-weight columns come last."""
    with np.errstate(divide="ignore"):
        score = np.where(weights > 0, np.log(keys) / np.where(weights > 0, weights, 1.0), -np.inf)
    return np.argsort(-score, axis=1, kind="stable")


def _disease_lists(rng: np.random.Generator, recorded: np.ndarray, none_p: np.ndarray, age: np.ndarray, male: np.ndarray) -> np.ndarray:
    out = np.full(len(recorded), None, dtype=object)
    idx = np.flatnonzero(recorded)
    names = [d[0] for d in P.PREVIOUS_DISEASES]
    age_related = np.array([d[0] in P.AGE_RELATED_DISEASES for d in P.PREVIOUS_DISEASES])
    male_only = np.array([d[3] == "M" for d in P.PREVIOUS_DISEASES])
    female_only = np.array([d[3] == "F" for d in P.PREVIOUS_DISEASES])
    is_none = rng.random(len(idx)) < none_p[idx]
    none_text = _choice(rng, P.PREVIOUS_DISEASES_NONE_SPELLINGS, len(idx))
    counts = _choice(rng, P.PREVIOUS_DISEASES_ITEM_COUNT, len(idx))
    keys = rng.random((len(idx), len(names)))
    lower = rng.random((len(idx), 5)) < P.LIST_ITEM_LOWERCASE
    trailing = rng.random(len(idx)) < P.LIST_TRAILING_SPACE
    young = ~np.isnan(age[idx]) & (age[idx] < P.YOUNG_AGE)
    # a single item follows the single-item frequencies, lists follow the in-list frequencies
    single = np.array([d[1] for d in P.PREVIOUS_DISEASES], dtype=float)
    in_list = np.array([d[2] for d in P.PREVIOUS_DISEASES], dtype=float)
    weights = np.where((counts == 1)[:, None], single[None, :], in_list[None, :])
    weights[np.ix_(young, age_related)] *= P.YOUNG_AGE_RELATED_FACTOR
    weights[np.ix_(~male[idx], male_only)] = 0
    weights[np.ix_(male[idx], female_only)] = 0
    order = _weighted_order(keys, weights)
    for row, i in enumerate(idx):
        if is_none[row]:
            out[i] = none_text[row]
            continue
        chosen = order[row, : int(counts[row])]
        items = [names[c].lower() if lower[row, k] else names[c] for k, c in enumerate(chosen)]
        out[i] = ", ".join(items) + (" " if trailing[row] else "")
    return out


def _surgeries(rng: np.random.Generator, recorded: np.ndarray, male: np.ndarray) -> np.ndarray:
    out = np.full(len(recorded), None, dtype=object)
    idx = np.flatnonzero(recorded)
    names = [s[0] for s in P.PREVIOUS_SURGERIES_VALUES]
    base = np.array([s[1] for s in P.PREVIOUS_SURGERIES_VALUES], dtype=float)
    female_only = np.array([s[2] == "F" for s in P.PREVIOUS_SURGERIES_VALUES])
    keys = rng.random((len(idx), len(names)))
    two = rng.random(len(idx)) < P.PREVIOUS_SURGERIES_TWO_ITEMS
    lower = rng.random(len(idx)) < 0.02
    separator = rng.random(len(idx)) < 0.5
    weights = np.tile(base, (len(idx), 1))
    weights[np.ix_(male[idx], female_only)] = 0
    order = _weighted_order(keys, weights)
    for row, i in enumerate(idx):
        chosen = [names[c] for c in order[row, : 2 if two[row] else 1]]
        if "No" in chosen:
            chosen = ["No"]
        text = (", " if separator[row] else ",").join(chosen)
        out[i] = text.lower() if lower[row] else text
    return out


def _treatments(rng: np.random.Generator, bins: np.ndarray) -> np.ndarray:
    n = len(bins)
    out = _choice(rng, P.TREATMENT_STANDARD, n)
    missing = rng.random(n) < np.asarray(P.TREATMENT_MISSING_BY_BIN)[bins]
    drug_list = ~missing & (rng.random(n) < P.TREATMENT_DRUG_LIST)
    idx = np.flatnonzero(drug_list)
    sizes = rng.integers(P.TREATMENT_DRUG_COUNT[0], P.TREATMENT_DRUG_COUNT[1] + 1, size=len(idx))
    separators = _choice(rng, P.TREATMENT_SEPARATORS, len(idx))
    stray = rng.random(len(idx)) < P.TREATMENT_STRAY_COMMAS
    keys = rng.random((len(idx), len(P.TREATMENT_DRUGS)))
    for row, i in enumerate(idx):
        drugs = [P.TREATMENT_DRUGS[c] for c in np.argsort(keys[row])[: int(sizes[row])]]
        text = separators[row].join(drugs)
        out[i] = f",{text}," if stray[row] else text
    out[missing] = None
    return out


# --- the simulation ---------------------------------------------------------------------------------------


def _simulate(patients: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = patients
    rng = _Streams(seed)
    position = (np.arange(n) + 0.5) / n
    bins = np.clip(np.searchsorted(P.BIN_EDGES, position, side="right") - 1, 0, P.N_BINS - 1)
    file_numbers = P.FILE_NUMBER_START + np.arange(n, dtype=np.int64)
    records, pair_first = _record_numbers(n, bins, rng("records"))

    keys, texts, ecg_findings, labels = _draw_labels(records, pair_first, bins, rng("labels"))
    findings = [_patient_findings(f) for f in ecg_findings]
    has = {code: np.zeros(n, dtype=bool) for code in P.FINDING_CODES}
    for i, codes in enumerate(findings):
        for code in codes:
            has[code][i] = True
    labelled = np.array([bool(f) for f in findings])
    cardiac_finding = labelled & ~has["non_cardiac"]
    non_cardiac_ecg = has["non_cardiac"]

    # numbers: correlated draw, findings-driven pulse, missingness, rounding habits
    male, raw = _latent_values(n, rng("numeric"))
    rounding = rng("rounding")
    value = {name: _round_to_habits(name, raw[name], rounding) for name in _NUMERIC}

    pulse_rng = rng("pulse")
    tachy = np.logical_or.reduce([has[c] for c in P.TACHYCARDIA_FINDINGS])
    brady = np.logical_or.reduce([has[c] for c in P.BRADYCARDIA_FINDINGS]) & ~tachy
    fast = np.rint(pulse_rng.triangular(*P.TACHYCARDIA_PULSE, size=n))
    slow = np.rint(pulse_rng.triangular(*P.BRADYCARDIA_PULSE, size=n))
    pulse = value["Pulse rate (PR)"]
    pulse[tachy & (pulse <= 100)] = fast[tachy & (pulse <= 100)]
    pulse[brady & (pulse >= 60)] = slow[brady & (pulse >= 60)]

    missing_rng = rng("missing")
    value["Patient Age"][missing_rng.random(n) < np.asarray(P.AGE_MISSING_BY_BIN)[bins]] = np.nan
    bp_missing = missing_rng.random(n) < P.BP_MISSING
    value["Systolic blood pressure "][bp_missing] = np.nan
    value["Diastolic blood pressure"][bp_missing | (missing_rng.random(n) < P.DIASTOLIC_EXTRA_MISSING)] = np.nan
    for name in _VITALS:
        gone = missing_rng.random(n) < P.VITAL_MISSING[name]
        if name == "Pulse rate (PR)":
            gone &= ~(tachy | brady)  # the rate that makes the finding is on record
        value[name][gone] = np.nan
    sex_missing = missing_rng.random(n) < P.SEX_MISSING

    present: dict[str, np.ndarray] = {}
    panel_rng = rng("panels")
    blood = panel_rng.random(n) < np.asarray(P.BLOOD_DRAWN_BY_BIN)[bins]
    for panel, (columns, if_blood, if_no_blood, column_missing, sub_blocks) in P.LAB_PANELS.items():
        r = rng(f"panel:{panel}")
        ordered = np.where(blood, r.random(n) < _per_bin(if_blood, bins), r.random(n) < if_no_blood)
        partial_share = P.LAB_PANEL_PARTIAL.get(panel, 1.0)
        partial = r.random(n) < partial_share
        for column in columns:
            p_missing = min(column_missing.get(column, 0.0) / partial_share, 0.9)
            present[column] = ordered & ~(partial & (r.random(n) < p_missing))
        for block, p_missing in sub_blocks:
            gone = partial & (r.random(n) < min(p_missing / partial_share, 0.9))
            for column in block:
                present[column] &= ~gone
    for column, ok in present.items():
        if column in value:
            value[column][~ok] = np.nan

    text: dict[str, np.ndarray] = {name: _number_text(value[name]) for name in _NUMERIC}
    age = value["Patient Age"]
    systolic = value["Systolic blood pressure "]

    # categorical columns
    cat = rng("categorical")
    sex = np.where(male, "M", "F").astype(object)
    sex[sex_missing] = None
    text["Patient Gender"] = sex

    group = np.where(np.isnan(systolic), 3, np.searchsorted(P.SYSTOLIC_GROUP_EDGES, np.nan_to_num(systolic), side="right"))
    p_cardiac = np.asarray(P.INITIAL_CARDIAC_BY_SYSTOLIC)[group]
    p_cardiac = _odds_shift(p_cardiac, np.where(cardiac_finding, P.CARDIAC_FINDING_ODDS, np.where(non_cardiac_ecg, P.NON_CARDIAC_ECG_ODDS, 1.0)))
    initial_cardiac = cat.random(n) < p_cardiac
    initial_missing = cat.random(n) < np.asarray(P.INITIAL_DIAGNOSIS_MISSING_BY_BIN)[bins]
    initial = np.where(initial_cardiac, "Cardiac", "Noncardiac").astype(object)
    initial[initial_missing] = None
    text["Initial diagnosis "] = initial

    p_final = _odds_shift(np.asarray(P.FINAL_DIAGNOSIS_PRESENT_BY_BIN)[bins], np.where(group == 2, P.FINAL_PRESENT_HIGH_SYSTOLIC_ODDS, 1.0))
    final_present = (cat.random(n) < p_final) & ~initial_missing
    final = np.full(n, None, dtype=object)
    u = cat.random(n)
    for g in range(4):
        for is_cardiac, table in ((True, P.FINAL_GIVEN_CARDIAC), (False, P.FINAL_GIVEN_NONCARDIAC)):
            sel = final_present & (group == g) & (initial_cardiac == is_cardiac)
            cumulative = np.cumsum(table[g]) / np.sum(table[g])
            picks = np.minimum(np.searchsorted(cumulative, u[sel], side="right"), len(P.FINAL_DIAGNOSIS) - 1)
            final[sel] = np.array(P.FINAL_DIAGNOSIS, dtype=object)[picks]
    overridden = np.zeros(n, dtype=bool)
    for code, diagnosis, probability in P.FINAL_FROM_FINDING:
        hit = final_present & initial_cardiac & (group != 2) & has[code] & ~overridden & (cat.random(n) < probability)
        final[hit] = diagnosis
        overridden |= hit
    text["Final diagnosis"] = final

    logit = P.DEATH_LOGIT_INTERCEPT + P.DEATH_LOGIT_PER_AGE_SD * np.nan_to_num((age - P.AGE_MEAN_SD[0]) / P.AGE_MEAN_SD[1])
    for code, shift in P.DEATH_LOGIT_FINDING.items():
        logit = logit + shift * has[code]
    logit = logit + P.DEATH_LOGIT_CARDIAC_ARREST * (final == "Cardiac-arrest")
    dead = cat.random(n) < 1 / (1 + np.exp(-logit))
    death_missing = cat.random(n) < np.asarray(P.DEATH_MISSING_BY_BIN)[bins]
    death = np.where(dead, "1", "0").astype(object)
    death[death_missing] = None
    text["Death"] = death

    status = _choice(cat, P.DISCHARGE_IF_ALIVE, n)
    status[death_missing] = _choice(cat, P.DISCHARGE_IF_DEATH_UNKNOWN, n)[death_missing]
    status[cat.random(n) < np.asarray(P.DISCHARGE_EXTRA_MISSING_BY_BIN)[bins]] = None
    died = dead & ~death_missing
    status[died] = P.DISCHARGE_DECEASED
    text["Patient Status on Discharge"] = status

    cause = _choice(cat, P.CAUSES_OF_DEATH, n)
    cardiac_death = has["asystole"] | has["ventricular_tachycardia"] | (final == "Cardiac-arrest")
    cause[cardiac_death] = P.CARDIAC_CAUSE_OF_DEATH
    cause[~(died & (cat.random(n) < P.CAUSE_OF_DEATH_RECORDED))] = None
    text["Cause of death"] = cause

    triage = value["Triage level"]
    triage_index = np.where(np.isnan(triage), 4, np.clip(np.nan_to_num(triage), 1, 4) - 1).astype(np.int64)
    ambulance = cat.random(n) < np.asarray(P.REFERRAL_AMBULANCE_BY_TRIAGE)[triage_index]
    referral = np.where(ambulance, "Ambulance", "Self-referred").astype(object)
    spaced = cat.random(n)
    for base, p_space in P.REFERRAL_TRAILING_SPACE.items():
        referral[(referral == base) & (spaced < p_space)] = base + " "
    referral[cat.random(n) < P.REFERRAL_MISSING] = None
    text["Method of referral "] = referral

    er = np.full(n, None, dtype=object)
    er[cat.random(n) < np.asarray(P.ER_VISITS_PRESENT_BY_BIN)[bins]] = P.ER_VISITS_VALUE
    text["Emergency room visits in the past 24 hours "] = er
    text["Treatment actions"] = _treatments(rng("treatment"), bins)

    troponin_rng = rng("troponin")
    acs = has["myocardial_infarction"] | (final == "MI") | (final == "ACS")
    numeric_troponin = troponin_rng.random(n) < np.where(acs, P.TROPONIN_NUMERIC_ACS, P.TROPONIN_NUMERIC)
    low, high = np.log(P.TROPONIN_NUMERIC_RANGE[0]), np.log(P.TROPONIN_NUMERIC_RANGE[1])
    level = np.exp(troponin_rng.uniform(low, high, size=n))
    level = np.where(level < 1, np.round(level, 2), np.round(level, 1))
    troponin = np.full(n, P.TROPONIN_CENSORED, dtype=object)
    troponin[numeric_troponin] = _number_text(level[numeric_troponin])
    troponin[~present["Troponine - I (Q)"]] = None
    text["Troponine - I (Q)"] = troponin

    urine = rng("urine")
    for column, options in (("Urine Proteins", P.URINE_PROTEINS), ("Urine Glucose", P.URINE_GLUCOSE), ("Urine Bacteria", P.URINE_BACTERIA)):
        values = _choice(urine, options, n)
        if column == "Urine Glucose":
            sugar = value["BS (Blood suger)"]
            high_sugar = ~np.isnan(sugar) & (sugar > P.URINE_GLUCOSE_HIGH_SUGAR) & (urine.random(n) < P.URINE_GLUCOSE_POSITIVE_IF_HIGH)
            positives = tuple(o for o in options if o[0] not in ("Negative", "Trace"))
            values[high_sugar] = _choice(urine, positives, n)[high_sugar]
        values[~present[column]] = None
        text[column] = values

    history = rng("history")
    age_group = np.searchsorted(P.PREVIOUS_DISEASES_AGE_EDGES, np.nan_to_num(age, nan=P.AGE_MEAN_SD[0]), side="right")
    disease_logit = np.asarray(P.PREVIOUS_DISEASES_LOGIT_BY_BIN)[bins] + np.where(np.isnan(age), 0.0, np.asarray(P.PREVIOUS_DISEASES_AGE_LOGIT)[age_group])
    recorded = history.random(n) < 1 / (1 + np.exp(-disease_logit))
    none_p = np.asarray(P.PREVIOUS_DISEASES_NONE_BY_AGE)[age_group]
    text["Previous diseases"] = _disease_lists(history, recorded, none_p, age, male)
    hospitalized = _choice(history, P.PREVIOUS_HOSPITALIZATIONS_VALUES, n)
    hospitalized[history.random(n) >= P.PREVIOUS_HOSPITALIZATIONS] = None
    text["Previous hospitalizations"] = hospitalized
    text["Previous surgeries"] = _surgeries(history, history.random(n) < P.PREVIOUS_SURGERIES, male)

    _copy_pairs(text, pair_first, rng("pairs"))

    # typed convenience columns, read back from the text so they can never disagree with the CSVs
    def as_int(column: str) -> pl.Series:
        return pl.Series(text[column].tolist(), dtype=pl.String).cast(pl.Float64).cast(pl.Int64)

    data: dict[str, pl.Series] = {
        "file_number": pl.Series(file_numbers, dtype=pl.Int64),
        "record_number": pl.Series(records, dtype=pl.Int64),
        "findings": pl.Series(findings, dtype=pl.List(pl.String)),
        "ecg_count": pl.Series([len(k) for k in keys], dtype=pl.Int64),
        "ecg_keys": pl.Series(keys, dtype=pl.List(pl.String)),
        "ecg_labels": pl.Series(texts, dtype=pl.List(pl.String)),
        "ecg_findings": pl.Series(ecg_findings, dtype=pl.List(pl.List(pl.String))),
        "age": as_int("Patient Age"),
        "sex": pl.Series(text["Patient Gender"].tolist(), dtype=pl.String),
        "pulse_rate": as_int("Pulse rate (PR)"),
        "systolic_bp": as_int("Systolic blood pressure "),
        "diastolic_bp": as_int("Diastolic blood pressure"),
        "death": as_int("Death"),
    }
    for column in CLINICAL_COLUMNS:
        data[column] = pl.Series(text[column].tolist(), dtype=pl.String)
    return pl.DataFrame(data), labels


def _copy_pairs(text: dict[str, np.ndarray], pair_first: np.ndarray, rng: np.random.Generator) -> None:
    """Second row of each shared record number: a near-copy of the first row."""
    if len(pair_first) == 0:
        return
    a, b = pair_first, pair_first + 1
    k = len(a)
    independent = rng.random(k) < P.PAIR_INDEPENDENT
    for block in _PAIR_BLOCKS:
        copy = ~independent & (rng.random(k) < P.PAIR_BLOCK_COPIED)
        for column in block:
            text[column][b[copy]] = text[column][a[copy]]
    sex = text["Patient Gender"][a].copy()
    flip = rng.random(k) < P.PAIR_SEX_DIFFERS
    to_female, to_male = flip & (sex == "M"), flip & (sex == "F")
    sex[to_female], sex[to_male] = "F", "M"
    text["Patient Gender"][b] = sex
    ages = pl.Series(text["Patient Age"][a].tolist(), dtype=pl.String).cast(pl.Int64).to_numpy()
    shift = np.where(rng.random(k) < P.PAIR_AGE_DIFFERS, np.where(rng.random(k) < 0.5, -1, 1), 0)
    new_age = np.empty(k, dtype=object)
    low, high = P.NUMERIC_QUANTILES["Patient Age"][0], P.NUMERIC_QUANTILES["Patient Age"][-1]
    new_age[:] = [None if np.isnan(x) else str(int(min(max(x + s, low), high))) for x, s in zip(ages.astype(float), shift)]
    text["Patient Age"][b] = new_age


# --- public API ------------------------------------------------------------------------------------------


def generate_demo_patients(patients: int, seed: int) -> pl.DataFrame:
    """Per-patient truth of the demo dataset, one row per patient in file-number order.

    Columns: `file_number` (1001, 1002, ...), `record_number` (hospital record number; a few pairs
    of adjacent patients share one), `findings` (finding codes of the patient's ECG labels, union
    over its ECGs, `non_cardiac` only when no ECG names a cardiac finding; empty = no label row),
    `ecg_count` (0 when unlabelled), `ecg_keys` / `ecg_labels` / `ecg_findings` (per ECG in index
    order: key as in `ECG Labels.csv`, label text, finding codes), typed `age`, `sex`, `pulse_rate`,
    `systolic_bp`, `diastolic_bp`, `death`, and one String column per clinical-table column named
    exactly as the real header (`"Initial diagnosis "`, `"BS (Blood suger)"`, ...) holding the text
    written to the CSVs (null = empty field). Patients sharing a record number share its labels.
    """
    patients, seed = _check_arguments(patients, seed)
    return _simulate(patients, seed)[0]


def generate_demo_labels(patients: int, seed: int) -> pl.DataFrame:
    """The rows of the demo `ECG Labels.csv` in file order: `key`, `label_text`, `record_number`,
    `ecg_index` (1 when the key has no suffix), `matched` (a patient has that record number) and
    `findings` (the codes the label text names)."""
    patients, seed = _check_arguments(patients, seed)
    return _simulate(patients, seed)[1]


def _write_table(path: Path, header: tuple[str, ...], columns: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator=P.CLINICAL_LINE_TERMINATOR, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(zip(*columns))


ENTRY_ERRORS_FILE = "demo_truth/entry_errors.csv"


def write_demo_dataset(out_dir: Path, patients: int = 574, seed: int = 0, error_rate: float = 0.0) -> dict:
    """Write the demo dataset under `out_dir`: `Clinical_Data/<10 tables>.csv`, `ECG Labels.csv`
    and an empty `ECG_Images/`. Same (patients, seed, error_rate) -> same bytes. Returns a summary.

    `error_rate` > 0 adds realistic data-entry errors to that share of each table's rows
    (`demo/errors.py`); what was injected is listed in `demo_truth/entry_errors.csv`."""
    from cardioml_pipeline.demo.errors import inject_entry_errors

    patients, seed = _check_arguments(patients, seed)
    if not 0 <= error_rate <= 1:
        raise ValueError(f"error rate must be between 0 and 1, got {error_rate}")
    truth, labels = _simulate(patients, seed)
    out_dir = Path(out_dir)
    clinical_dir = out_dir / P.CLINICAL_DIR
    clinical_dir.mkdir(parents=True, exist_ok=True)
    images_dir = out_dir / P.IMAGES_DIR
    images_dir.mkdir(parents=True, exist_ok=True)

    identifiers = [[str(v) for v in truth["file_number"].to_list()], [str(v) for v in truth["record_number"].to_list()]]
    text_columns = {c: ["" if v is None else v for v in truth[c].to_list()] for c in CLINICAL_COLUMNS}
    table_paths = {}
    errors_rng = np.random.default_rng([seed, 0xE77])  # its own stream: the clean values never change
    injected = []
    for name, header in P.TABLE_HEADERS.items():
        path = clinical_dir / name
        rows = [list(row) for row in zip(*(identifiers + [text_columns[c] for c in header[2:]]))]
        rows, table_errors = inject_entry_errors(name, header, rows, error_rate, errors_rng)
        injected += table_errors
        _write_table(path, header, [list(column) for column in zip(*rows)] if rows else [[] for _ in header])
        table_paths[name] = str(path)
    errors_path = out_dir / ENTRY_ERRORS_FILE
    errors_path.unlink(missing_ok=True)
    if injected:
        errors_path.parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(
            [vars(e) for e in injected], schema={"table_file": pl.String, "row": pl.Int64, "kind": pl.String, "column": pl.String, "original": pl.String, "written": pl.String}
        ).write_csv(errors_path)

    labels_path = out_dir / P.LABELS_FILE
    lines = [f"{key}, {label}{P.LABELS_LINE_TERMINATOR}" for key, label in zip(labels["key"].to_list(), labels["label_text"].to_list())]
    with labels_path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("".join(lines))

    shared = truth.group_by("record_number").len().filter(pl.col("len") > 1).height
    return {
        "patients": patients,
        "seed": seed,
        "clinical_tables": len(P.TABLE_HEADERS),
        "rows_per_table": patients,
        "label_rows": labels.height,
        "labelled_patients": int((truth["ecg_count"] > 0).sum()),
        "unmatched_label_keys": int((~labels["matched"]).sum()),
        "shared_record_numbers": shared,
        "entry_errors": len(injected),
        "paths": {
            "root": str(out_dir),
            "clinical_dir": str(clinical_dir),
            "tables": table_paths,
            "labels": str(labels_path),
            "images_dir": str(images_dir),
            "entry_errors": str(errors_path) if injected else None,
        },
    }
