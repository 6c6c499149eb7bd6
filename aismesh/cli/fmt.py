"""Output of the `ais` CLI: sizes in IEC units as AIS prints them, aligned tables, JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def size_iec(n: int) -> str:
    """AIS's cos.ToSizeIEC with 2 digits: 0B, 512B, 1.00KiB, 2.50MiB."""
    if n < 1024:
        return f"{n}B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.2f}{unit}"
    return f"{n}B"


def table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns padded to their widest cell, separated by two spaces, no trailing spaces."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        line = "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()
        out.write(line + "\n")


def dump_json(out: TextIO, doc: Any) -> None:
    out.write(json.dumps(doc, indent=4, sort_keys=True) + "\n")


def show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and not value:
        return "-"
    if value == "":
        return "-"
    return str(value)
