"""Run every benchmark and print its tables: ``python -m benchmarks`` (what ``make bench`` runs).

::

    python -m benchmarks                    # the full sizes (about 40 minutes on 2 cores)
    python -m benchmarks --quick            # tiny sizes: checks that each benchmark still works
    python -m benchmarks --only request_building triggerer_scale
    python -m benchmarks --json results.json

Each benchmark is also a module of its own (``python -m benchmarks.triggerer_scale --help``).
Every figure is printed with the one-minute load average at the time it was measured, and the
comparisons are ratios against baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import describe_machine, load, machine

#: Full and quick settings of each benchmark.
PLANS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "request_building": ({"megabytes": 10.0, "repeat": 7}, {"megabytes": 1.0, "repeat": 2}),
    "triggerer_scale": (
        {"sizes": (1_000, 10_000), "real": 1_000, "observe": 90.0},
        {
            "sizes": (10,),
            "variants": (
                "aiohttp_shared",
                "fixed_schedule",
                "aiohttp_ungated",
                "aiohttp_per_poll",
                "httpx_sync",
                "httpx_async",
            ),
            "real": 2,
            "spread": "*=0.5-1,seed=1",
            "warmup": 1,
            "warmup_seconds": 0.5,
            "interval": 0.1,
            "grace": 20.0,
            "observe": 2.0,
            "slots": 2,
        },
    ),
    "trigger_cold_start": ({"waits": 20, "rounds": 5}, {"waits": 2, "rounds": 1, "latency": 0.5}),
    "archive_memory": ({"sizes_mib": (64, 512, 2048), "repeat": 3}, {"sizes_mib": (16,)}),
    "pipeline_overhead": (
        {"images": 200, "latency": 30.0},
        {"images": 2, "latency": 5.0, "sample": 1.0, "workers": ("quick",), "batch_sizes": (2,)},
    ),
}


def _runner(name: str) -> Callable[..., dict[str, Any]]:
    if name == "request_building":
        from benchmarks.request_building import run as request_building

        return request_building
    if name == "triggerer_scale":
        from benchmarks.triggerer_scale import run as triggerer_scale

        return triggerer_scale
    if name == "trigger_cold_start":
        from benchmarks.trigger_cold_start import run as trigger_cold_start

        return trigger_cold_start
    if name == "archive_memory":
        from benchmarks.archive_memory import run as archive_memory

        return archive_memory
    from benchmarks.pipeline_overhead import run as pipeline_overhead

    return pipeline_overhead


def run_all(names: list[str], quick: bool, json_path: Path | None = None) -> dict[str, Any]:
    """Run the named benchmarks in turn; each one's figures, tables and load. A benchmark that fails
    is reported and the others still run; with ``json_path`` the figures so far are written after
    each one."""
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    for name in names:
        settings = PLANS[name][1 if quick else 0]
        print(f"\n== {name} {settings} (load {load()})", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            out = _runner(name)(**settings)
        except Exception as exc:  # one broken benchmark does not cost the others' figures
            traceback.print_exc()
            out = {"error": f"{type(exc).__name__}: {exc}", "table": f"FAILED: {type(exc).__name__}: {exc}"}
        out["seconds"] = round(time.monotonic() - began, 1)
        results[name] = out
        print(f"\n## {name} ({out['seconds']:,.0f} s)\n\n{out['table']}\n", flush=True)
        if json_path is not None:
            json_path.write_text(json.dumps(results, indent=1, default=str))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds each (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=list(PLANS), default=list(PLANS), help="which to run")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    print(f"# Benchmarks{' (quick)' if args.quick else ''}\n\n{describe_machine()}", flush=True)
    results = run_all(args.only, args.quick, args.json)
    return 1 if any(isinstance(r, dict) and "error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
