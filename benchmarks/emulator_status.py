"""Status polls per second the emulator serves while it renders videos.

The emulator runs in its own process (:class:`~airflow_video_gen.devtools.emulator.process.EmulatorProcess`);
this process is the client: one shared aiohttp session, ``--concurrency`` pollers looping on
``POST /v4/ai/video-model/status`` over a handful of jobs for ``--seconds``, while ``--renders``
long renders (Veo 1080p, 8 s each; they are among the polled jobs) keep the render workers
busy; the jobs' latency is long enough that they stay pending throughout. It prints the polls per second,
the latency percentiles, and how many renders ran during the measurement.

Run::

    python -m benchmarks.emulator_status            # defaults: 50 pollers, 10 s, 3 renders

Target on a 2-core machine: at least 2,000 polls/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import statistics
import sys
import time
from typing import Any

import aiohttp
from PIL import Image, ImageDraw

from airflow_video_gen.devtools.emulator.process import EmulatorProcess

TARGET_POLLS_PER_S = 2000
#: Veo takes image bytes, so the benchmark needs no image host.
MODEL = "google/veo-3.1-generate-001"


def _image(seed: int) -> str:
    img = Image.new("RGB", (640, 360), (40 + seed * 30 % 200, 90, 160))
    ImageDraw.Draw(img).ellipse([220, 80, 420, 280], fill="orange")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


async def _start(session: aiohttp.ClientSession, emulator: EmulatorProcess, model: str, body: Any) -> Any:
    async with session.post(
        f"{emulator.base_url}/video-model/start", headers=emulator.headers(model), json=body
    ) as answer:
        data = await answer.json()
        if answer.status != 200:
            raise RuntimeError(f"start failed: {answer.status} {data}")
        return data["operation"]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Child process ids (the render workers) of ``pid``."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _cpu_snapshot(pid: int | None) -> tuple[float, float, float]:
    """CPU seconds so far of the server, of its render workers, and of this client."""
    client = sum(os.times()[:2])
    if pid is None:
        return 0.0, 0.0, client
    return _cpu_seconds(pid), sum(_cpu_seconds(c) for c in _children(pid)), client


async def _stats(session: aiohttp.ClientSession, emulator: EmulatorProcess) -> dict[str, Any]:
    async with session.get(f"{emulator.root_url}/_emulator/stats") as answer:
        data: dict[str, Any] = await answer.json()
        return data


async def _poller(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    bodies: list[bytes],
    index: int,
    stop_at: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    i = index
    while True:
        began = time.perf_counter()
        if began >= stop_at:
            return
        async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as answer:
            await answer.read()
            if answer.status != 200:
                errors.append(answer.status)
        latencies.append(time.perf_counter() - began)
        i += 1


async def measure(
    emulator: EmulatorProcess, concurrency: int, seconds: float, jobs: int, renders: int
) -> dict[str, Any]:
    """Start the jobs (``renders`` of them long), then poll them for ``seconds``; the figures."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        operations = []
        for i in range(jobs):
            body = {
                "prompt": f"long render {i}" if i < renders else f"short render {i}",
                "n": 1,
                "resolution": "1080p" if i < renders else "720p",
                "duration": 8 if i < renders else 4,
                "seed": i,
                "image": {"type": "file", "mediaType": "image/png", "data": _image(i)},
            }
            operations.append(await _start(session, emulator, MODEL, body))
        before = await _stats(session, emulator)
        url = f"{emulator.base_url}/video-model/status"
        headers = {**emulator.headers(MODEL), "content-type": "application/json"}
        bodies = [json.dumps({"operation": op}).encode() for op in operations]
        latencies: list[float] = []
        errors: list[int] = []
        cpu_before = _cpu_snapshot(emulator.pid)
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(
            *(
                _poller(session, url, headers, bodies, i, stop_at, latencies, errors)
                for i in range(concurrency)
            )
        )
        elapsed = time.perf_counter() - began
        cpu_after = _cpu_snapshot(emulator.pid)
        after = await _stats(session, emulator)
    latencies.sort()
    return {
        "polls": len(latencies),
        "seconds": round(elapsed, 2),
        "polls_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
        "errors": len(errors),
        "server_cpu_ms_per_poll": round(1000 * (cpu_after[0] - cpu_before[0]) / max(1, len(latencies)), 3),
        "client_cpu_ms_per_poll": round(1000 * (cpu_after[2] - cpu_before[2]) / max(1, len(latencies)), 3),
        "render_cores_used": round((cpu_after[1] - cpu_before[1]) / elapsed, 2),
        "renders_done_during": after["renders_done"] - before["renders_done"],
        "jobs_running_at_end": after["jobs"]["running"] + after["jobs"]["queued"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=50, help="pollers at once (default 50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="polling time (default 10)")
    parser.add_argument("--jobs", type=int, default=5, help="jobs polled, renders included (default 5)")
    parser.add_argument("--renders", type=int, default=3, help="long renders running meanwhile (default 3)")
    parser.add_argument("--render-workers", type=int, default=1, help="emulator render processes (default 1)")
    args = parser.parse_args(argv)
    with EmulatorProcess(latency=60.0, render_workers=args.render_workers) as emulator:
        result = asyncio.run(measure(emulator, args.concurrency, args.seconds, args.jobs, args.renders))
    print(json.dumps(result))
    verdict = "meets" if result["polls_per_s"] >= TARGET_POLLS_PER_S else "is BELOW"
    print(
        f"emulator status: {result['polls_per_s']:,} polls/s with {args.concurrency} pollers while "
        f"renders used {result['render_cores_used']} cores ({verdict} the {TARGET_POLLS_PER_S:,}/s target)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
