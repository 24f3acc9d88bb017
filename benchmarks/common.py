"""What the benchmarks share: the machine they ran on, the load beside each figure, process memory
and CPU, and Markdown tables.

The machine is shared (other jobs may run on it), so every figure is printed with the one-minute
load average at the time it was measured, and every comparison is a ratio against a baseline
measured in the same run.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Iterable, Sequence
from typing import Any

import psutil

MIB = 1024 * 1024


def load() -> float:
    """The one-minute load average now (``os.getloadavg()[0]``)."""
    return round(os.getloadavg()[0], 2)


def machine() -> dict[str, Any]:
    """Cores, memory, Python and Airflow versions, and the date: the heading of every result."""
    try:
        from importlib.metadata import version

        airflow = version("apache-airflow")
    except Exception:
        airflow = "unknown"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "airflow": airflow,
        "platform": platform.platform(terse=True),
    }


def describe_machine(info: dict[str, Any] | None = None) -> str:
    """One line saying when and on what a run was made (``info`` from :func:`machine`, or now)."""
    info = info or machine()
    return (
        f"{info['date']}: {info['cores']} cores, {info['memory_gib']} GiB memory, "
        f"Python {info['python']}, Airflow {info['airflow']}, {info['platform']}"
    )


def rss(pid: int | None = None) -> int:
    """Resident set size of a process (default this one), in bytes."""
    return int(psutil.Process(pid).memory_info().rss)


def tree_rss(pid: int) -> int:
    """Resident set size of a process and all its descendants, in bytes (shared pages counted in
    each process, as ``ps`` does)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    times = os.times()
    return times.user + times.system


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest-rank method; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ratio(value: float | None, baseline: float | None) -> str:
    """``value / baseline`` as ``0.42x``; ``-`` when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return "-"
    return f"{value / baseline:.2f}x"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [bool(cells) and all(_is_number(r[i]) for r in cells) for i in range(len(headers))]
    head = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "| " + " | ".join(_rule(w, n) for w, n in zip(widths, numeric, strict=True)) + " |"
    body = [
        "| " + " | ".join(_align(c, w, n) for c, w, n in zip(r, widths, numeric, strict=True)) + " |"
        for r in cells
    ]
    return "\n".join([head, rule, *body])


def _rule(width: int, numeric: bool) -> str:
    return "-" * (width - 1) + ":" if numeric else "-" * width


def _align(cell: str, width: int, numeric: bool) -> str:
    return cell.rjust(width) if numeric else cell.ljust(width)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    stripped = text.replace(",", "").rstrip("x").lstrip("-")
    return stripped.replace(".", "", 1).isdigit() or text == "-"
