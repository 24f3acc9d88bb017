"""Thousands of ``VideoGenerationTrigger``s in one event loop, against three baselines that differ
only in how they move the bytes, and a real ``airflow triggerer`` holding 1,000 deferred sensors.

**In one loop.** For each N, the AI Gateway emulator runs in its own process with a job latency L;
a fresh client process (one per variant and N, so memory figures start clean) starts N identical
jobs (one render, cached; small sizes), then creates N triggers the way Airflow's ``TriggerRunner``
does (``asyncio.create_task`` and ``await asyncio.sleep(0)`` between), polling every 5 s, and
waits for their events. Jobs complete at known times: the emulator finishes each one L seconds
after its start and stamps ``providerMetadata.gateway.asyncJob.result.expiresAt`` (milliseconds)
with its completion time plus the file lifetime, so the completion time of every job is read from
its own status answer. Reported per variant:

- resident memory per in-flight generation (RSS with N triggers polling, minus RSS before them);
- client CPU seconds per poll and polls per second sustained (while every job is pending);
- the longest event-loop block (a watcher coroutine that sleeps 10 ms at a time);
- completion-detection lag (emulator completion -> trigger event) p50 and p99;
- status calls per completed video, against what one call per 5 s of waiting makes.

Variants (the baselines are small subclasses of the trigger below: the same loop, the same
``protocol.build_status`` / ``read_status``; only the transport differs):

- ``aiohttp_shared``: ``VideoGenerationTrigger`` itself, one aiohttp session per event loop;
- ``aiohttp_ungated``: the same trigger as it was before its calls queued at the loop's pool gate
  (``hooks.gateway.pool_gate``), every call waiting for a connection inside aiohttp: what the
  profile below led to, measured side by side;
- ``aiohttp_per_poll``: a new aiohttp session per poll, as the http provider's ``HttpSensorTrigger``;
- ``httpx_sync``: the synchronous httpx hook called inside ``async def run``, as several official
  providers' triggers do (each trigger its own hook and client); it blocks the loop on every call,
  so it is capped at ``--sync-max`` triggers and at L + ``--grace`` seconds;
- ``httpx_async``: one shared ``httpx.AsyncClient`` per loop (100 connections, as aiohttp's pool).

**A real triggerer** (``--real N``): a local Airflow (api-server, scheduler, dag-processor,
triggerer; LocalExecutor, SQLite) runs a generated DAG of N mapped ``VideoGenerationSensor`` tasks
over operations started beforehand; once all N are deferred, the triggerer's process tree RSS is
sampled against its idle RSS, and its log is read for the triggers it reports running and for
blocked-loop warnings.

Run from the repository root::

    python -m benchmarks.triggerer_scale                       # N = 1,000, 5,000, 10,000 + real 1,000
    python -m benchmarks.triggerer_scale --sizes 1000 --real 0
    python -m benchmarks.triggerer_scale --profile 5000        # py-spy profile of the trigger path
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil

from airflow_video_gen import protocol
from airflow_video_gen.hooks.gateway import (
    ASYNC_POOL_SIZE,
    VideoGatewayHook,
    close_shared_sessions,
    shared_session,
)
from airflow_video_gen.protocol import GatewayError, GatewayTransportError, StatusResult
from airflow_video_gen.triggers.generation import (
    VideoGenerationTrigger,
)
from benchmarks.common import (
    MIB,
    cpu_seconds,
    describe_machine,
    load,
    percentile,
    ratio,
    rss,
    table,
    tree_rss,
)

REPO = Path(__file__).resolve().parents[1]
MODEL = "klingai/kling-v2.6-i2v"
POLL_INTERVAL = 5.0
FILE_TTL = 3600.0
SIZES = (1_000, 5_000, 10_000)
RESULT_MARKER = "TRIGGER-SCALE-RESULT "
WATCH_STEP = 0.01


def latency_for(n: int) -> float:
    """The emulator's job latency for N triggers: long enough that all N jobs start and all N
    triggers poll a few rounds before the first job completes (about 1,000 starts a second)."""
    return round(30.0 + n / 500.0, 1)


# ------------------------------------------------------------------------------------- the variants


class _TransportTrigger(VideoGenerationTrigger):
    """``VideoGenerationTrigger`` itself, with its one status call (``_status``) made another way."""

    async def retrying(
        self, hook: VideoGatewayHook, send: Callable[[], Awaitable[StatusResult]]
    ) -> StatusResult:
        """``send`` retried as ``VideoGatewayHook._asend`` retries, with the hook's own retry step."""
        attempt = 0
        while True:
            try:
                return await send()
            except (aiohttp.ClientError, httpx.TransportError, asyncio.TimeoutError) as exc:
                error: GatewayError = GatewayTransportError(f"{type(exc).__name__}: {exc}")
            except GatewayError as exc:
                error = exc
            attempt += 1
            await asyncio.sleep(hook.retry_delay(attempt, error, f"status {self.model}"))


class SessionPerPollTrigger(_TransportTrigger):
    """Baseline (a): a new aiohttp ``ClientSession`` for every poll (``HttpSensorTrigger``'s way)."""

    async def _status(self, hook: VideoGatewayHook) -> StatusResult:
        cfg = await hook.aconfig()
        request = protocol.build_status(cfg, self.model, self.operation)

        async def send() -> StatusResult:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=cfg.timeout)) as session,
                session.request(
                    request.method, request.url, headers=request.headers, data=request.body
                ) as resp,
            ):
                content = await resp.read()
            return protocol.read_status(resp.status, resp.headers, content)

        return await self.retrying(hook, send)


class UngatedTrigger(_TransportTrigger):
    """``VideoGenerationTrigger`` as it was before the pool gate (``hooks.gateway.pool_gate``): the
    same shared session, every call straight into aiohttp, waiting for a connection inside it."""

    async def _status(self, hook: VideoGatewayHook) -> StatusResult:
        cfg = await hook.aconfig()
        request = protocol.build_status(cfg, self.model, self.operation)
        timeout = aiohttp.ClientTimeout(total=cfg.timeout)

        async def send() -> StatusResult:
            async with shared_session(cfg.verify).request(
                request.method, request.url, headers=request.headers, data=request.body, timeout=timeout
            ) as resp:
                content = await resp.read()
            return protocol.read_status(resp.status, resp.headers, content)

        return await self.retrying(hook, send)


class SyncHookTrigger(_TransportTrigger):
    """Baseline (b): the synchronous httpx hook called inside ``async def run`` (blocks the loop)."""

    async def _status(self, hook: VideoGatewayHook) -> StatusResult:
        await hook.aconfig()  # the connection read as the real trigger reads it; the call is sync
        return hook.status(self.model, self.operation)


_HTTPX_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


class HttpxAsyncTrigger(_TransportTrigger):
    """Baseline (c): one shared ``httpx.AsyncClient`` per event loop, as many connections as the
    aiohttp pool."""

    async def _status(self, hook: VideoGatewayHook) -> StatusResult:
        cfg = await hook.aconfig()
        request = protocol.build_status(cfg, self.model, self.operation)
        loop = asyncio.get_running_loop()
        client = _HTTPX_CLIENTS.get(loop)
        if client is None:
            limits = httpx.Limits(max_connections=ASYNC_POOL_SIZE, max_keepalive_connections=ASYNC_POOL_SIZE)
            client = _HTTPX_CLIENTS[loop] = httpx.AsyncClient(
                timeout=httpx.Timeout(cfg.timeout), verify=cfg.verify, limits=limits
            )

        async def send() -> StatusResult:
            resp = await client.request(
                request.method, request.url, headers=request.headers, content=request.body
            )
            return protocol.read_status(resp.status_code, resp.headers, resp.content)

        return await self.retrying(hook, send)


class Variant:
    """One way of polling: ``key`` for ``--variants``, ``label`` for the tables, the trigger class."""

    def __init__(self, key: str, label: str, trigger: type[VideoGenerationTrigger]) -> None:
        self.key, self.label, self.trigger = key, label, trigger


VARIANTS: tuple[Variant, ...] = (
    Variant("aiohttp_shared", "VideoGenerationTrigger (shared aiohttp session)", VideoGenerationTrigger),
    Variant("aiohttp_ungated", "the same, without the pool gate (before)", UngatedTrigger),
    Variant("aiohttp_per_poll", "(a) new aiohttp session per poll", SessionPerPollTrigger),
    Variant("httpx_sync", "(b) sync httpx hook inside async run", SyncHookTrigger),
    Variant("httpx_async", "(c) shared httpx.AsyncClient", HttpxAsyncTrigger),
)
BY_KEY = {v.key: v for v in VARIANTS}


# ------------------------------------------------------------------------------------- the client


def _body() -> dict[str, Any]:
    from airflow_video_gen.models import VideoRequest
    from tests.imaging import make_image

    call = {"prompt": {"image": make_image(320, 320), "text": "scale benchmark"}, "duration": 5}
    return VideoRequest.from_sdk_call(MODEL, call).to_gateway_body()


async def _start_jobs(n: int) -> list[dict[str, Any]]:
    """Start N identical jobs (the emulator renders once), 64 at a time; their operations."""
    hook = VideoGatewayHook()
    body = _body()
    gate = asyncio.Semaphore(64)
    tag = f"{os.getpid()}-{time.time_ns()}"

    async def one(i: int) -> dict[str, Any]:
        async with gate:
            started = await hook.astart(MODEL, body, f"avg_bench_{tag}_{i}")
        return dict(started.operation)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


class _Sampler:
    """Every second: the emulator's polls served, this process's RSS and CPU seconds, and the
    emulator's CPU seconds (when its process id is known)."""

    def __init__(self, root_url: str, server_pid: int | None = None) -> None:
        self.url = f"{root_url}/_emulator/stats"
        self.server = psutil.Process(server_pid) if server_pid else None
        self.samples: list[tuple[float, int, int, float, float]] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self.stop.is_set():
                async with session.get(self.url) as answer:
                    polls = int((await answer.json())["polls_served"])
                server = sum(self.server.cpu_times()[:2]) if self.server else 0.0
                self.samples.append((time.time(), polls, rss(), cpu_seconds(), server))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 1.0)


class _GcWatch:
    """A ``gc.callbacks`` entry timing each collection of the cyclic garbage collector: its pause
    (wall clock: how long the loop stood still) and its CPU time."""

    def __init__(self) -> None:
        self.began = (0.0, 0.0)
        self.pauses: list[tuple[int, float, float]] = []

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.began = (time.perf_counter(), time.process_time())
        else:
            wall, cpu = time.perf_counter() - self.began[0], time.process_time() - self.began[1]
            self.pauses.append((info["generation"], wall, cpu))

    def figures(self) -> dict[str, float]:
        return {
            "cpu_seconds": sum(c for _, _, c in self.pauses),
            "longest": max((w for _, w, _ in self.pauses), default=0.0),
            "full_collections": sum(1 for g, _, _ in self.pauses if g == 2),
        }


async def _watch_loop(stop: asyncio.Event, lags: list[tuple[float, float]]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(WATCH_STEP)
        lags.append((time.time(), loop.time() - before - WATCH_STEP))


async def client_run(
    variant: Variant,
    n: int,
    latency: float,
    root_url: str,
    grace: float,
    interval: float = POLL_INTERVAL,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """One variant with N triggers, in this (fresh) process; the raw figures."""
    began = time.time()
    operations = await _start_jobs(n)
    started_s = time.time() - began
    gc.collect()
    rss_before, cpu_before = rss(), cpu_seconds()
    collections = _GcWatch()
    gc.callbacks.append(collections)
    cap = time.time() + latency + grace
    deadline = cap + 60.0
    sampler, stop = _Sampler(root_url, server_pid), asyncio.Event()
    lags: list[tuple[float, float]] = []
    tasks_bg = [asyncio.create_task(sampler.run()), asyncio.create_task(_watch_loop(stop, lags))]
    events: list[tuple[float, float, dict[str, Any]]] = []

    async def run_trigger(trigger: VideoGenerationTrigger, created: float) -> None:
        async for event in trigger.run():
            events.append((time.time(), created, dict(event.payload)))
            return

    # As Airflow's TriggerRunner.create_triggers: build the trigger, one task each, yield between.
    tasks = []
    for operation in operations:
        await asyncio.sleep(0)
        trigger = variant.trigger(
            model=MODEL,
            operation=operation,
            deadline=deadline,
            poll_interval=interval,
            started_at=time.time(),
            wait_first=True,
        )
        tasks.append(asyncio.create_task(run_trigger(trigger, time.time())))
    created_all = time.time()
    _, pending = await asyncio.wait(tasks, timeout=max(1.0, cap - time.time()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    ended = time.time()
    cpu_after = cpu_seconds()
    gc.callbacks.remove(collections)
    stop.set()
    sampler.stop.set()
    await asyncio.gather(*tasks_bg)
    await close_shared_sessions()
    client = _HTTPX_CLIENTS.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
    return {
        "variant": variant.key,
        "n": n,
        "latency": latency,
        "interval": interval,
        "start_seconds": round(started_s, 2),
        "began": began,
        "created_all": created_all,
        "ended": ended,
        "rss_before": rss_before,
        "cpu_total": cpu_after - cpu_before,
        "samples": sampler.samples,
        "lags": lags,
        "events": [(t, c, _trim(p)) for t, c, p in events],
        "not_finished": len(pending),
        "gc": collections.figures(),
        "load": load(),
    }


def _trim(payload: dict[str, Any]) -> dict[str, Any]:
    job = ((payload.get("provider_metadata") or {}).get("gateway") or {}).get("asyncJob") or {}
    expires = (job.get("result") or {}).get("expiresAt")
    return {"status": payload.get("status"), "polls": payload.get("polls"), "expires_at_ms": expires}


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """The reported figures from one client run."""
    n, samples, events, interval = raw["n"], raw["samples"], raw["events"], raw["interval"]
    completed = [e for e in events if e[2]["status"] == "completed" and e[2]["expires_at_ms"]]
    first_done = min((e[2]["expires_at_ms"] / 1000 - FILE_TTL for e in completed), default=raw["ended"])
    # Steady window: every trigger created and past its first poll, no job completed yet.
    lo, hi = raw["created_all"] + interval * 1.1 + 1, first_done - 0.5
    window = [s for s in samples if lo <= s[0] <= hi]
    if len(window) < 3:  # too short (a saturated loop): all samples after creation
        window = [s for s in samples if s[0] >= raw["created_all"]]
    steady: dict[str, Any] = {}
    if len(window) >= 2:
        (t0, p0, _, c0, e0), (t1, p1, _, c1, e1) = window[0], window[-1]
        polls = max(1, p1 - p0)
        steady = {
            "seconds": round(t1 - t0, 1),
            "polls_per_s": (p1 - p0) / (t1 - t0),
            "cpu_ms_per_poll": 1000 * (c1 - c0) / polls,
            "rss_in_flight": max(s[2] for s in window),
            "client_cores": (c1 - c0) / (t1 - t0),
            "emulator_cores": (e1 - e0) / (t1 - t0),
        }
    lags = [lag for _, lag in raw["lags"]]
    detection = [t - (e["expires_at_ms"] / 1000 - FILE_TTL) for t, _, e in completed]
    waited = [max(0.0, (e["expires_at_ms"] / 1000 - FILE_TTL) - created) for _, created, e in completed]
    polls_total = sum(e[2]["polls"] or 0 for e in events)
    rss_in_flight = steady.get("rss_in_flight") or max((s[2] for s in samples), default=raw["rss_before"])
    return {
        "variant": raw["variant"],
        "n": n,
        "latency": raw["latency"],
        "interval": interval,
        "completed": len(completed),
        "not_finished": raw["not_finished"],
        "kib_per_generation": (rss_in_flight - raw["rss_before"]) / 1024 / n,
        "cpu_ms_per_poll": steady.get("cpu_ms_per_poll"),
        "cpu_ms_per_poll_whole_run": 1000 * raw["cpu_total"] / max(1, polls_total),
        "polls_per_s": steady.get("polls_per_s"),
        "polls_per_s_needed": n / interval,
        "steady_seconds": steady.get("seconds"),
        "max_block_s": max(lags, default=float("nan")),
        "p99_block_s": percentile(lags, 0.99),
        "lag_p50_s": percentile(detection, 0.5),
        "lag_p99_s": percentile(detection, 0.99),
        "calls_per_video": polls_total / max(1, len(events)),
        # What a client polling exactly every 5 s from the same moment makes: the polls before the
        # completion, plus the one that sees it.
        "calls_per_video_5s": sum(w // interval + 1 for w in waited) / max(1, len(waited)),
        "start_seconds": raw["start_seconds"],
        "client_cores": steady.get("client_cores"),
        "emulator_cores": steady.get("emulator_cores"),
        "gc_share": raw["gc"]["cpu_seconds"] / raw["cpu_total"]
        if raw.get("gc") and raw["cpu_total"]
        else None,
        "gc_longest_s": raw["gc"]["longest"] if raw.get("gc") else None,
        "gc_full_collections": raw["gc"]["full_collections"] if raw.get("gc") else None,
        "load": raw["load"],
    }


def _child(args: argparse.Namespace) -> int:
    raw = asyncio.run(
        client_run(
            BY_KEY[args.child],
            args.n,
            args.latency,
            args.root_url,
            args.grace,
            args.interval,
            args.server_pid,
        )
    )
    sys.stdout.write(RESULT_MARKER + json.dumps(raw) + "\n")
    return 0


# ------------------------------------------------------------------------------------- the parent


def _gateway_env(emulator: Any) -> dict[str, str]:
    return {"AIRFLOW_CONN_AI_GATEWAY_DEFAULT": emulator.connection_json(timeout=60)}


def _client_command(
    variant: str, n: int, latency: float, root_url: str, grace: float, interval: float, server_pid: int | None
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.triggerer_scale",
        "--child",
        variant,
        "--n",
        str(n),
        "--latency",
        str(latency),
        "--root-url",
        root_url,
        "--grace",
        str(grace),
        "--interval",
        str(interval),
        *(["--server-pid", str(server_pid)] if server_pid else []),
    ]


def _airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": "airflow.* airflow_video_gen.* benchmarks.*",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }


def run_client(
    emulator: Any,
    variant: str,
    n: int,
    latency: float,
    grace: float,
    env: dict[str, str],
    profile: Path | None = None,
    interval: float = POLL_INTERVAL,
) -> dict[str, Any]:
    """One variant in a fresh process; with ``profile``, under ``py-spy record``."""
    command = _client_command(variant, n, latency, emulator.root_url, grace, interval, emulator.pid)
    if profile is not None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        command = [
            spy,
            "record",
            "--nonblocking",
            "--rate",
            "200",
            "--format",
            "speedscope",
            "-o",
            str(profile),
            "--",
            *command,
        ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
        timeout=latency + grace + 600,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return summarize(json.loads(line[len(RESULT_MARKER) :]))
    raise RuntimeError(
        f"{variant} N={n} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    )


def in_loop(
    sizes: Sequence[int],
    variants: Sequence[str],
    sync_max: int,
    grace: float,
    latency: float | None = None,
    interval: float = POLL_INTERVAL,
) -> list[dict[str, Any]]:
    """Every variant at every N (the baselines right after ours, against the same emulator)."""
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        env = _airflow_env(Path(tmp))
        for n in sizes:
            job_latency = latency or latency_for(n)
            with EmulatorProcess(latency=job_latency, file_ttl=FILE_TTL, startup_timeout=120) as emulator:
                env.update(_gateway_env(emulator))
                for key in variants:
                    if key == "httpx_sync" and n > sync_max:
                        print(f"  skipped {key} at N={n:,} (over --sync-max {sync_max:,})", file=sys.stderr)
                        continue
                    emulator.reset()
                    print(
                        f"  {key} N={n:,} (latency {job_latency:g} s, load {load()}) ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    result = run_client(emulator, key, n, job_latency, grace, env, interval=interval)
                    print(f"    {json.dumps(result)}", file=sys.stderr, flush=True)
                    results.append(result)
    return results


def in_loop_table(results: Sequence[dict[str, Any]]) -> str:
    ours = {r["n"]: r for r in results if r["variant"] == "aiohttp_shared"}
    rows = []
    for r in results:
        base = ours.get(r["n"])
        rows.append(
            (
                r["n"],
                BY_KEY[r["variant"]].label,
                f"{r['completed']:,}/{r['n']:,}",
                round(r["kib_per_generation"], 1),
                r["cpu_ms_per_poll"],
                ratio(r["cpu_ms_per_poll"], base["cpu_ms_per_poll"] if base else None),
                f"{r['polls_per_s'] or 0:,.0f} / {r['polls_per_s_needed']:,.0f}",
                round(r["max_block_s"], 3),
                r["lag_p50_s"],
                r["lag_p99_s"],
                f"{r['calls_per_video']:.2f} ({r['calls_per_video_5s']:.2f})",
                r["load"],
            )
        )
    headers = (
        "N",
        "trigger",
        "done",
        "KiB/gen",
        "CPU ms/poll",
        "vs ours",
        "polls/s (needed)",
        "max block s",
        "lag p50 s",
        "lag p99 s",
        "calls/video (1 per interval)",
        "load",
    )
    return table(headers, rows)


def cores_table(results: Sequence[dict[str, Any]]) -> str:
    """Where the time goes: cores used by the client and by the emulator while every job is
    pending, and the client's time in the cyclic garbage collector."""
    rows = [
        (
            r["n"],
            BY_KEY[r["variant"]].label,
            r.get("client_cores"),
            r.get("emulator_cores"),
            f"{100 * r['gc_share']:.0f} %" if r.get("gc_share") is not None else None,
            r.get("gc_longest_s"),
            r.get("gc_full_collections"),
            r["load"],
        )
        for r in results
    ]
    headers = (
        "N",
        "trigger",
        "client cores",
        "emulator cores",
        "GC share of client CPU",
        "longest GC pause s",
        "full GCs",
        "load",
    )
    return table(headers, rows)


# ------------------------------------------------------------------------------------- real triggerer

_SENSOR_DAG = '''
"""Generated by benchmarks.triggerer_scale: {n} mapped sensors over operations started beforehand."""
import json
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.sensors.generation import VideoGenerationSensor

SUBMISSIONS = json.loads(Path(__file__).with_name("submissions.json").read_text())

with DAG("bench_deferred_sensors", schedule=None, max_active_tasks={slots}, max_active_runs=1) as dag:
    VideoGenerationSensor.partial(task_id="wait", poll_interval={interval}, timeout=7200).expand(
        submission=SUBMISSIONS
    )
'''


def _start_sync(emulator: Any, n: int) -> list[dict[str, Any]]:
    """Start N identical jobs from this process; the submit task's XCom of each."""
    config = protocol.GatewayConfig(api_key=emulator.api_key, base_url=emulator.base_url)
    body, now, out = _body(), time.time(), []
    with httpx.Client(timeout=60) as client:
        for i in range(n):
            key = f"avg_real_{now:.0f}_{i}"
            request = protocol.build_start(config, MODEL, body, key)
            answer = client.request(
                request.method, request.url, headers=request.headers, content=request.body
            )
            started = protocol.read_start(answer.status_code, answer.headers, answer.content)
            out.append(
                {
                    "model": MODEL,
                    "family": "kling",
                    "operation": started.operation,
                    "idempotency_key": key,
                    "submitted_at": now,
                }
            )
    return out


class StatsdListener(threading.Thread):
    """A StatsD server on loopback UDP that keeps what Airflow's components send it: each gauge's
    values and each counter's total, by metric name (tags dropped)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = int(self.sock.getsockname()[1])
        self.gauges: dict[str, list[float]] = {}
        self.counters: dict[str, float] = {}
        self._halt = threading.Event()

    def env(self) -> dict[str, str]:
        """Airflow's settings that send its metrics here."""
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        }

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                data = self.sock.recv(65535)
            except OSError:
                continue
            for line in data.decode(errors="replace").splitlines():
                self._take(line)

    def _take(self, line: str) -> None:
        # name:value|type[|@rate][|#tags]
        name, _, rest = line.partition(":")
        value_text, _, kind_rest = rest.partition("|")
        kind = kind_rest.split("|")[0]
        try:
            value = float(value_text)
        except ValueError:
            return
        name = name.removeprefix("airflow.")
        if kind == "g":
            self.gauges.setdefault(name, []).append(value)
        elif kind == "c":
            self.counters[name] = self.counters.get(name, 0.0) + value

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self.sock.close()

    def figures(self, contains: str) -> dict[str, Any]:
        """The metrics whose name holds ``contains``: gauges as last and max, counters as totals."""
        out: dict[str, Any] = {}
        for name, values in sorted(self.gauges.items()):
            # The same gauge again with the hostname appended to its name (StatsD without tags).
            if name.rsplit(".", 1)[0] in self.gauges:
                continue
            if contains in name:
                out[name] = {"last": values[-1], "max": max(values), "samples": len(values)}
        for name, total in sorted(self.counters.items()):
            if contains in name:
                out[name] = {"total": total}
        return out


def _log_figures(text: str) -> dict[str, Any]:
    running = [
        int(line.split(" triggers currently running")[0].split()[-1])
        for line in text.splitlines()
        if " triggers currently running" in line
    ]
    blocked = [line for line in text.splitlines() if "async thread was blocked" in line]
    return {
        "triggers_running_logged": running,
        "blocked_warnings": len(blocked),
        "blocked_lines": blocked[-3:],
    }


def real_triggerer(
    n: int, observe: float, slots: int, timeout: float, interval: float = POLL_INTERVAL
) -> dict[str, Any]:
    """N deferred sensors in a real triggerer: its memory and what its log says."""
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess
    from airflow_video_gen.devtools.local_stack import LocalAirflow

    figures: dict[str, Any] = {"n": n, "slots": slots, "interval": interval}
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(latency=7200, file_ttl=FILE_TTL) as emulator:
        home, dags = Path(tmp) / "home", Path(tmp) / "dags"
        dags.mkdir()
        (dags / "submissions.json").write_text(json.dumps(_start_sync(emulator, n)))
        (dags / "bench_deferred_sensors.py").write_text(
            _SENSOR_DAG.format(n=n, slots=max(16, slots), interval=interval)
        )
        metrics = StatsdListener()
        metrics.start()
        env = {**_gateway_env(emulator), "AIRFLOW__TRIGGERER__CAPACITY": str(max(1000, n + 100))}
        env["AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES"] = "airflow.* airflow_video_gen.*"
        env.update(metrics.env())
        with LocalAirflow(home, dags, env=env, parallelism=slots) as airflow:
            triggerer = airflow.processes["triggerer"].pid
            airflow.wait_for_dag("bench_deferred_sensors")
            time.sleep(5)
            idle = []
            for _ in range(3):
                idle.append(tree_rss(triggerer))
                time.sleep(1)
            figures["triggerer_idle_mib"] = max(idle) / MIB
            figures["load_idle"] = load()
            began = time.monotonic()
            run_id = airflow.trigger("bench_deferred_sensors")
            deferred = 0
            while time.monotonic() - began < timeout:
                states = airflow.task_states("bench_deferred_sensors", run_id)
                deferred = states.get("deferred", 0)
                if deferred >= n or states.get("failed") or states.get("upstream_failed"):
                    break
                time.sleep(5)
            figures["all_deferred_after_s"] = round(time.monotonic() - began, 1)
            figures["deferred"] = deferred
            figures["task_states"] = airflow.task_states("bench_deferred_sensors", run_id)
            polls0, t0 = emulator.stats()["polls_served"], time.monotonic()
            samples = []
            while time.monotonic() - t0 < observe:
                samples.append(tree_rss(triggerer))
                time.sleep(2)
            polls1, t1 = emulator.stats()["polls_served"], time.monotonic()
            figures["triggerer_peak_mib"] = max(samples) / MIB
            figures["triggerer_median_mib"] = sorted(samples)[len(samples) // 2] / MIB
            figures["kib_per_trigger"] = (max(samples) - max(idle)) / 1024 / max(1, deferred)
            figures["polls_per_s"] = (polls1 - polls0) / (t1 - t0)
            figures["observed_s"] = round(t1 - t0, 1)
            figures["load"] = load()
            figures.update(_log_figures(airflow.log_tail("triggerer", 2_000_000)))
        metrics.stop()
        figures["triggerer_metrics"] = metrics.figures("trigger")
    return figures


def real_table(r: dict[str, Any]) -> str:
    rows = [
        (
            "sensors deferred at once",
            f"{r['deferred']:,} of {r['n']:,} (after {r['all_deferred_after_s']:,.0f} s)",
            r["load"],
        ),
        ("triggerer RSS idle (process tree)", f"{r['triggerer_idle_mib']:.0f} MiB", r["load_idle"]),
        ("triggerer RSS with the triggers (peak)", f"{r['triggerer_peak_mib']:.0f} MiB", r["load"]),
        ("RSS per deferred sensor", f"{r['kib_per_trigger']:.1f} KiB", r["load"]),
        (
            "status polls/s served (needed)",
            f"{r['polls_per_s']:.0f} ({r['deferred'] / r['interval']:.0f})",
            r["load"],
        ),
        (
            "'triggers currently running' log lines",
            ", ".join(map(str, r["triggers_running_logged"])) or "-",
            r["load"],
        ),
        ("blocked-loop warnings", str(r["blocked_warnings"]), r["load"]),
    ]
    for name, values in r.get("triggerer_metrics", {}).items():
        if "total" in values:
            shown = f"{values['total']:,.0f} (counter total)"
        else:
            shown = f"last {values['last']:,.0f}, max {values['max']:,.0f} ({values['samples']:,} samples)"
        rows.append((f"StatsD `{name}`", shown, r["load"]))
    return table(("real triggerer", "figure", "load"), rows)


# ------------------------------------------------------------------------------------- entry points


def run(
    sizes: Sequence[int] = SIZES,
    variants: Sequence[str] = tuple(BY_KEY),
    real: int = 1000,
    sync_max: int = 5000,
    grace: float = 60.0,
    observe: float = 60.0,
    slots: int = 8,
    real_timeout: float = 3600.0,
    latency: float | None = None,
    interval: float = POLL_INTERVAL,
) -> dict[str, Any]:
    """Every measurement; the figures and the tables as text."""
    results = in_loop(sizes, variants, sync_max, grace, latency, interval)
    text = (
        f"Triggers in one event loop, polling every {interval:g} s against the emulator in another "
        f"process (CPU and polls/s while every job is pending; 'vs ours' = CPU per poll over "
        f"VideoGenerationTrigger's at the same N; calls/video in brackets: a poll per interval)\n\n"
        + in_loop_table(results)
        + "\n\nWhere the time goes (cores: while every job is pending; garbage collector: over the "
        + "whole run)\n\n"
        + cores_table(results)
    )
    out: dict[str, Any] = {"in_loop": results}
    if real:
        print(
            f"  real triggerer with {real:,} deferred sensors (load {load()}) ...",
            file=sys.stderr,
            flush=True,
        )
        out["real"] = real_triggerer(real, observe, slots, real_timeout, interval)
        text += (
            f"\n\nA real `airflow triggerer` with {real:,} deferred VideoGenerationSensors\n\n"
            + real_table(out["real"])
        )
    out["table"] = text
    return out


def profile(n: int, out_dir: Path, variant: str = "aiohttp_shared") -> Path:
    """Record one client run under py-spy (speedscope JSON in ``out_dir``); prints the summary."""
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"triggerer_scale_{variant}_{n}.speedscope.json"
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess(latency=latency_for(n), file_ttl=FILE_TTL) as emulator,
    ):
        env = {**_airflow_env(Path(tmp)), **_gateway_env(emulator)}
        result = run_client(emulator, variant, n, latency_for(n), 60.0, env, profile=path)
    print(json.dumps(result))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="trigger counts (default 1000 5000 10000)"
    )
    parser.add_argument("--variants", nargs="+", default=list(BY_KEY), choices=list(BY_KEY))
    parser.add_argument(
        "--sync-max", type=int, default=5000, help="largest N for the sync httpx baseline (default 5000)"
    )
    parser.add_argument(
        "--grace", type=float, default=60.0, help="seconds after the latency before a run is cut (default 60)"
    )
    parser.add_argument(
        "--real", type=int, default=1000, help="deferred sensors in a real triggerer; 0 skips (default 1000)"
    )
    parser.add_argument(
        "--observe", type=float, default=60.0, help="seconds the real triggerer is watched (default 60)"
    )
    parser.add_argument(
        "--slots", type=int, default=8, help="LocalExecutor slots for the real triggerer run (default 8)"
    )
    parser.add_argument(
        "--interval", type=float, default=POLL_INTERVAL, help="seconds between polls (default 5)"
    )
    parser.add_argument("--profile", type=int, metavar="N", help="py-spy profile of N triggers, then exit")
    parser.add_argument(
        "--profile-dir", type=Path, default=Path("out"), help="where the profile goes (default ./out)"
    )
    parser.add_argument("--child", choices=list(BY_KEY), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, help="emulator job latency in seconds (default 30 + N/500)")
    parser.add_argument("--root-url", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    if args.profile:
        print(profile(args.profile, args.profile_dir))
        return 0
    print(describe_machine())
    out = run(
        args.sizes,
        args.variants,
        args.real,
        args.sync_max,
        args.grace,
        args.observe,
        args.slots,
        latency=args.latency,
        interval=args.interval,
    )
    print(out["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
