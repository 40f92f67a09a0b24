"""Plain-text tables, so a result can be pasted into an issue or a commit message as is."""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Sequence


def machine() -> str:
    """Which machine the figures come from: they mean little without it."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{platform.platform()} · {os.cpu_count()} CPU(s) ({cpu}) · "
            f"Python {sys.version.split()[0]}")


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def sec(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds:.2f} s"


def ratio(a: float, b: float) -> str:
    if math.isnan(a) or math.isnan(b) or b <= 0:
        return "—"
    return f"{a / b:.2f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, the others right-aligned, a rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        out = [str(cells[0]).ljust(widths[0])]
        out += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])
