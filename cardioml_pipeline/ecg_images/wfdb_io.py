"""A tiny reader for single-file WFDB records in format 16 (what PTB-XL ships), without the wfdb package.

Header (``<record>.hea``): the record line ``name n_signals fs [n_samples ...]``, then one line per
signal ``file format gain(baseline)/units adc_res adc_zero init_value checksum block_size description``
(gain may be ``1000.0(0)/mV`` or plain ``1000``; a missing baseline means adc_zero). Data
(``<record>.dat``): interleaved little-endian int16 samples, one frame per sample time.
Physical value = (digital - baseline) / gain. Only format 16, one data file, no skew/offset fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class WfdbRecord:
    name: str
    fs: float
    signals: dict[str, np.ndarray]  # physical units (float64), by signal description
    units: dict[str, str]


_GAIN = re.compile(r"^(?P<gain>[-+0-9.eE]+)(\((?P<base>[-+0-9]+)\))?(/(?P<units>\S+))?$")


def read_record(path: str | Path) -> WfdbRecord:
    """Read ``path`` (with or without the .hea suffix)."""
    p = Path(path)
    hea = p if p.suffix == ".hea" else p.with_name(p.name + ".hea")
    lines = [ln.strip() for ln in hea.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise ValueError(f"{hea}: empty header")
    head = lines[0].split()
    name, n_sig = head[0], int(head[1])
    fs = float(head[2].split("/")[0]) if len(head) > 2 else 250.0
    n_samples = int(head[3]) if len(head) > 3 else None
    specs = [ln.split() for ln in lines[1 : 1 + n_sig]]
    if len(specs) != n_sig:
        raise ValueError(f"{hea}: expected {n_sig} signal lines, found {len(specs)}")
    files = {s[0] for s in specs}
    if len(files) != 1:
        raise ValueError(f"{hea}: only single-file records are supported")
    fmts = {s[1].split("x")[0].split(":")[0].split("+")[0] for s in specs}
    if fmts != {"16"}:
        raise ValueError(f"{hea}: only format 16 is supported, got {sorted(fmts)}")
    raw = np.fromfile(hea.with_name(specs[0][0]), dtype="<i2")
    if raw.size % n_sig:
        raise ValueError(f"{hea}: data size {raw.size} is not a multiple of {n_sig} signals")
    frames = raw.reshape(-1, n_sig)
    if n_samples is not None and n_samples <= frames.shape[0]:
        frames = frames[:n_samples]
    signals: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for i, s in enumerate(specs):
        m = _GAIN.match(s[2]) if len(s) > 2 else None
        gain = float(m.group("gain")) if m else 200.0
        gain = gain or 200.0
        adc_zero = int(s[4]) if len(s) > 4 else 0
        base = int(m.group("base")) if m and m.group("base") is not None else adc_zero
        desc = " ".join(s[8:]) if len(s) > 8 else f"sig{i}"
        signals[desc] = (frames[:, i].astype(np.float64) - base) / gain
        units[desc] = (m.group("units") if m and m.group("units") else "mV")
    return WfdbRecord(name=name, fs=fs, signals=signals, units=units)
