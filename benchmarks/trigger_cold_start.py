"""A triggerer's first waits: how long its event loop is blocked while it loads our trigger class and
runs the first waits, in a fresh interpreter that has loaded what a triggerer loads.

Each round starts a fresh Python per way, which imports ``airflow.jobs.triggerer_job_runner``, then,
on one event loop as the triggerer's ``create_triggers`` does, loads
``VideoGenerationTrigger`` by its classpath and runs N waits to their end against the emulator,
while a watchdog coroutine sleeps 10 ms at a time and records how late it woke:

- ``off the loop``: the trigger as it is (:mod:`airflow_video_gen.triggers.off_loop`);
- ``on the loop`` (the baseline): the same, with the wait's modules (the hook, the schedule,
  ``waiting``) imported on the loop right after the class, as the trigger module used to import
  them with itself.

::

    python -m benchmarks.trigger_cold_start                 # 20 waits, 5 rounds
    python -m benchmarks.trigger_cold_start --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from benchmarks.common import describe_machine, load, table

REPO = Path(__file__).resolve().parent.parent
WAYS = ("off the loop", "on the loop")

_CHILD = textwrap.dedent(
    """
    import asyncio, importlib, json, sys, time

    import airflow.jobs.triggerer_job_runner  # what a triggerer has loaded before any trigger
    from airflow._shared.module_loading import import_string

    way, ops = json.loads(sys.stdin.read())
    blocks = []

    async def watchdog(stop):
        while not stop.is_set():
            began = time.monotonic()
            await asyncio.sleep(0.01)
            blocks.append(time.monotonic() - began - 0.01)

    async def main():
        stop = asyncio.Event()
        watching = asyncio.create_task(watchdog(stop))
        await asyncio.sleep(0.1)
        waits = []
        for op in ops:
            await asyncio.sleep(0)
            cls = import_string("airflow_video_gen.triggers.generation.VideoGenerationTrigger")
            if way == "on the loop":
                for name in sys.modules[cls.__module__].RUN_MODULES:
                    importlib.import_module(name)
            await asyncio.sleep(0)
            wait = cls(model=op["model"], operation=op["operation"], deadline=time.time() + 300,
                       poll_interval=1.0, started_at=op["submitted_at"], expected=op["expected"])
            waits.append(wait)

        async def first_event(wait):
            async for event in wait.run():
                return event.payload["status"]

        statuses = await asyncio.gather(*(first_event(w) for w in waits))
        stop.set()
        await watching
        return statuses

    statuses = asyncio.run(main())
    print(json.dumps({"statuses": statuses, "max_block_s": max(blocks),
                      "blocks_over_0.1_s": sum(b > 0.1 for b in blocks)}))
    """
)


def _round(way: str, ops: list[dict[str, Any]], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps([way, ops]),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {way!r} round failed: {done.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["load"] = load()
    return out


def run(waits: int = 20, rounds: int = 5, latency: float = 2.0) -> dict[str, Any]:
    """``rounds`` fresh processes per way, alternating; the median of their longest loop block."""
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess
    from benchmarks.triggerer_scale import _gateway_env, _start_sync

    results: dict[str, list[dict[str, Any]]] = {way: [] for way in WAYS}
    with EmulatorProcess(latency=latency) as emulator:
        env = {**os.environ, **_gateway_env(emulator), "PYTHONPATH": str(REPO)}
        for _ in range(rounds):
            for way in WAYS:
                # Jobs of their own per round, each done about `latency` after its start.
                ops = [{**op, "expected": latency} for op in _start_sync(emulator, waits)]
                results[way].append(_round(way, ops, env))
    figures = {
        way: {
            "max_block_s": statistics.median(r["max_block_s"] for r in rs),
            "max_block_s_all": [round(r["max_block_s"], 3) for r in rs],
            "blocks_over_0.1_s": sum(r["blocks_over_0.1_s"] for r in rs),
            "completed": sum(r["statuses"].count("completed") for r in rs),
            "load": max(r["load"] for r in rs),
        }
        for way, rs in results.items()
    }
    base = figures["on the loop"]["max_block_s"]
    rows = [
        (
            way,
            f"{f['completed']:,} of {waits * rounds:,}",
            f"{f['max_block_s']:.3f}",
            ", ".join(f"{b:.3f}" for b in f["max_block_s_all"]),
            f"{f['max_block_s'] / base:.2f}x" if base else "-",
            f["blocks_over_0.1_s"],
            f["load"],
        )
        for way, f in figures.items()
    ]
    headers = (
        "wait's imports",
        "waits completed",
        "longest loop block s (median)",
        "each round",
        "vs on the loop",
        "blocks over 0.1 s",
        "load",
    )
    return {"waits": waits, "rounds": rounds, "figures": figures, "table": table(headers, rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, default=20, help="waits per process (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="processes per way (default 5)")
    args = parser.parse_args(argv)
    print(describe_machine())
    print(run(waits=args.waits, rounds=args.rounds)["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
