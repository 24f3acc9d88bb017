"""Thousands of ``VideoGenerationTrigger``s in one event loop, polling on the expected-time schedule
against today's schedule (a call every 5 s from the start) and against baselines that move the
bytes in other ways; and a real ``airflow triggerer`` holding 1,000 deferred sensors.

**In one loop.** The AI Gateway emulator runs in its own process, each job taking a latency drawn
from a seeded spread per model (``--spread``: by default five models, each over 20 s, together
40 to 120 s). A fresh client process (one per variant and N, so memory figures start clean)
starts N jobs, the models taking turns, as fast as 64 calls at a time go, and right after each
start creates its trigger the way a deferring task and Airflow's ``TriggerRunner`` do
(``wait_first``, ``started_at`` the start's time, ``asyncio.create_task``), then waits for every
event. A variant whose schedule learns first runs a warm-up in the same process (``--warmup`` jobs
per model, started evenly over ``--warmup-seconds``), as a triggerer that has been running has
seen completions; the warm-up's own figures are reported as the cold start. The emulator finishes
each job at its drawn latency and stamps ``providerMetadata.gateway.asyncJob.result.expiresAt``
(milliseconds) with its completion time plus the file lifetime, so the completion time of every
job is read from its own status answer. Reported per variant:

- status calls per completed video (median and 99th percentile) and detection lag (emulator
  completion -> trigger event, p50 and p99);
- whether the loop kept up: each call's lateness against the moment its schedule asked for it
  (p99), and the calls per second asked for and made at the busiest second;
- the longest event-loop block (a watcher coroutine that sleeps 10 ms at a time) and the longest
  pause and share of CPU of the cyclic garbage collector;
- resident memory per generation in flight (RSS at the most in flight, minus RSS before the wave)
  and client CPU per call.

Variants (the baselines are small subclasses of the trigger: the same loop, the same
``protocol.build_status`` / ``read_status``):

- ``aiohttp_shared``: ``VideoGenerationTrigger`` itself: the expected-time schedule
  (:mod:`airflow_video_gen.polling`), one aiohttp session per event loop;
- ``fixed_schedule``: the same trigger on today's schedule, a call every ``poll_interval`` from
  the start (what a request's ``pollIntervalMs`` asks for, and what the trigger did before);
- ``aiohttp_ungated``: the trigger as it was before its calls queued at the loop's pool gate
  (``hooks.gateway.pool_gate``), every call waiting for a connection inside aiohttp;
- ``aiohttp_per_poll``: a new aiohttp session per call, as the http provider's ``HttpSensorTrigger``;
- ``httpx_sync``: the synchronous httpx hook called inside ``async def run``, as several official
  providers' triggers do (each trigger its own hook and client); it blocks the loop on every call,
  so it is capped at ``--sync-max`` triggers;
- ``httpx_async``: one shared ``httpx.AsyncClient`` per loop (100 connections, as aiohttp's pool).

**A real triggerer** (``--real N``): a local Airflow (api-server, scheduler, dag-processor,
triggerer; LocalExecutor, SQLite) runs a generated DAG of N mapped ``VideoGenerationSensor`` tasks
over operations started beforehand; once all N are deferred, the triggerer's process tree RSS is
sampled against its idle RSS, and its log and StatsD metrics are read for the triggers it reports
running and for blocked-loop warnings.

Run from the repository root::

    python -m benchmarks.triggerer_scale                       # N = 1,000 and 10,000 + real 1,000
    python -m benchmarks.triggerer_scale --sizes 50000 --variants aiohttp_shared --real 0 \\
        --spread '*=120-200' --warmup 32
    python -m benchmarks.triggerer_scale --profile 5000        # py-spy profile of the trigger path
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref
from array import array
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil

from airflow_video_gen import protocol
from airflow_video_gen.devtools.emulator.latencies import ANY_MODEL, LatencySpread
from airflow_video_gen.families import resolve_model
from airflow_video_gen.hooks.gateway import (
    ASYNC_POOL_SIZE,
    VideoGatewayHook,
    close_shared_sessions,
    shared_session,
)
from airflow_video_gen.polling import ESTIMATES, expected_seconds
from airflow_video_gen.protocol import GatewayError, GatewayTransportError, StatusResult
from airflow_video_gen.triggers.generation import VideoGenerationTrigger
from airflow_video_gen.triggers.heap import KEEPER
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
SIZES = (1_000, 10_000)
#: Five models, each over 20 s, together 40 to 120 s.
SPREAD = (
    "klingai/kling-v2.5-turbo-i2v=40-60,google/veo-3.1-fast-generate-001=50-70,"
    "klingai/kling-v2.6-i2v=65-85,google/veo-3.1-generate-001=80-100,klingai/kling-v3.0-i2v=100-120,seed=7"
)
#: Warm-up jobs per model, and the seconds over which they start.
WARMUP = 64
WARMUP_SECONDS = 120.0
RESULT_MARKER = "TRIGGER-SCALE-RESULT "
WATCH_STEP = 0.01
#: Seconds without a turn of the loop after which its thread's stack is sampled.
BLOCK_STACK_AFTER = 0.1
START_CONCURRENCY = 64


# ------------------------------------------------------------------------------------- the variants


class FixedScheduleTrigger(VideoGenerationTrigger):
    """Today's schedule: a call every ``poll_interval`` from the start (``fixed_interval``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "fixed_interval": True})


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
    """One way of polling: ``key`` for ``--variants``, ``label`` for the tables, the trigger class,
    and whether its schedule learns (then a warm-up runs first)."""

    def __init__(
        self, key: str, label: str, trigger: type[VideoGenerationTrigger], learns: bool = True
    ) -> None:
        self.key, self.label, self.trigger, self.learns = key, label, trigger, learns


VARIANTS: tuple[Variant, ...] = (
    Variant("aiohttp_shared", "VideoGenerationTrigger (expected-time schedule)", VideoGenerationTrigger),
    Variant(
        "fixed_schedule", "the same, a call every 5 s from the start (before)", FixedScheduleTrigger, False
    ),
    Variant("aiohttp_ungated", "the same, without the pool gate", UngatedTrigger),
    Variant("aiohttp_per_poll", "(a) new aiohttp session per poll", SessionPerPollTrigger),
    Variant("httpx_sync", "(b) sync httpx hook inside async run", SyncHookTrigger),
    Variant("httpx_async", "(c) shared httpx.AsyncClient", HttpxAsyncTrigger),
)
BY_KEY = {v.key: v for v in VARIANTS}
#: What ``python -m benchmarks.triggerer_scale`` runs unless told: the schedule, old against new.
DEFAULT_VARIANTS = ("aiohttp_shared", "fixed_schedule")


# ------------------------------------------------------------------------------------- the client


def spread_models(spread: str) -> list[str]:
    """The models of a spread spec, in its order (``MODEL`` when it names none but ``*``)."""
    return [m for m in LatencySpread.parse(spread).ranges if m != ANY_MODEL] or [MODEL]


def _body(model: str = MODEL) -> dict[str, Any]:
    """A small request for ``model``: a 320 px image and the model's shortest duration."""
    from airflow_video_gen.models import VideoRequest
    from tests.imaging import make_image

    _, spec = resolve_model(model)
    call: dict[str, Any] = {"prompt": {"image": make_image(320, 320), "text": "scale benchmark"}}
    if spec.durations:
        call["duration"] = min(spec.durations)
    return VideoRequest.from_sdk_call(model, call).to_gateway_body()


class _Timing:
    """Each status call's lateness against the moment its schedule asked for it, and both moments
    (epoch seconds, in arrays: a few numbers per call)."""

    def __init__(self) -> None:
        self.asked = array("d")
        self.sent = array("d")


TIMING = _Timing()


def _timed(trigger_class: type[VideoGenerationTrigger]) -> type[VideoGenerationTrigger]:
    """``trigger_class`` noting, in :data:`TIMING`, when each call was asked for and made."""

    class Timed(trigger_class):  # type: ignore[valid-type,misc]
        _asked = 0.0

        async def _wait(self, seconds: float, **kwargs: Any) -> None:
            self._asked = time.time() + max(0.0, min(seconds, self.deadline - time.time()))
            await super()._wait(seconds, **kwargs)

        async def _status(self, hook: VideoGatewayHook) -> StatusResult:
            TIMING.asked.append(self._asked)
            TIMING.sent.append(time.time())
            return await super()._status(hook)

    Timed.__name__ = Timed.__qualname__ = f"Timed{trigger_class.__name__}"
    return Timed


class _Sampler:
    """Every second: the emulator's polls served, this process's RSS and CPU seconds, the
    emulator's CPU seconds (when its process id is known) and the generations in flight."""

    def __init__(self, root_url: str, in_flight: Callable[[], int], server_pid: int | None = None) -> None:
        self.url = f"{root_url}/_emulator/stats"
        self.in_flight = in_flight
        self.server = psutil.Process(server_pid) if server_pid else None
        self.samples: list[tuple[float, int, int, float, float, int]] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self.stop.is_set():
                async with session.get(self.url) as answer:
                    polls = int((await answer.json())["polls_served"])
                server = sum(self.server.cpu_times()[:2]) if self.server else 0.0
                self.samples.append((time.time(), polls, rss(), cpu_seconds(), server, self.in_flight()))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 1.0)


class _GcWatch:
    """A ``gc.callbacks`` entry timing each collection of the cyclic garbage collector: its pause
    (wall clock: how long the loop stood still) and its CPU time."""

    def __init__(self) -> None:
        self.began = (0.0, 0.0)
        self.pauses: list[tuple[int, float, float, float, int]] = []

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.began = (time.perf_counter(), time.process_time())
        else:
            wall, cpu = time.perf_counter() - self.began[0], time.process_time() - self.began[1]
            self.pauses.append((info["generation"], wall, cpu, time.time(), info["collected"]))

    def figures(self) -> dict[str, Any]:
        longest = max(self.pauses, key=lambda p: p[1], default=(0, 0.0, 0.0, 0.0, 0))
        return {
            "cpu_seconds": sum(p[2] for p in self.pauses),
            "longest": longest[1],
            "longest_cpu": max((p[2] for p in self.pauses), default=0.0),
            "longest_at": longest[3],
            "longest_collected": longest[4],
            "full": [(round(p[3], 1), round(p[1], 3), p[4]) for p in self.pauses if p[0] == 2],
            "full_collections": sum(1 for p in self.pauses if p[0] == 2),
        }


async def _watch_loop(stop: asyncio.Event, lags: list[tuple[float, float]]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(WATCH_STEP)
        lags.append((time.time(), loop.time() - before - WATCH_STEP))


class _BlockStacks(threading.Thread):
    """Where the loop's thread is when the loop has not turned for :data:`BLOCK_STACK_AFTER` s: its
    Python stack, sampled from another thread (a collector's pause shows the frame that allocated)."""

    def __init__(self, lags: list[tuple[float, float]]) -> None:
        super().__init__(daemon=True)
        self.lags, self.loop_thread = lags, threading.get_ident()
        self.stacks: dict[str, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.02):
            last = self.lags[-1][0] if self.lags else time.time()
            if time.time() - last < BLOCK_STACK_AFTER:
                continue
            frame = sys._current_frames().get(self.loop_thread)
            if frame is None:
                continue
            where = " < ".join(
                f"{Path(f.filename).name}:{f.lineno} {f.name}"
                for f in traceback.extract_stack(frame)[::-1][:6]
            )
            self.stacks[where] = self.stacks.get(where, 0) + 1


class _Wave:
    """N jobs started (the models taking turns), each trigger created right after its start, and
    their events: ``(event time, start time, the event's status, polls and completion stamp)``."""

    def __init__(self, trigger: type[VideoGenerationTrigger], models: Sequence[str], interval: float) -> None:
        self.trigger, self.models, self.interval = trigger, list(models), interval
        self.bodies = {m: _body(m) for m in self.models}
        self.priors = {m: expected_seconds(m, self.bodies[m]) for m in self.models}
        self.events: list[tuple[float, float, dict[str, Any]]] = []
        self.created = self.finished = 0
        self.tag = f"{os.getpid()}-{time.time_ns()}"

    async def run(self, n: int, tail: float, pace: float = 0.0) -> tuple[float, int]:
        """Start ``n`` jobs (one every ``pace`` seconds, else as fast as they go), wait for every
        event until ``tail`` seconds after the last start; when the last job was started, and the
        events missing.

        :data:`START_CONCURRENCY` workers take the jobs in turn, as many submit tasks would: a task
        per job created at once would itself block the loop for as long as creating them takes.
        """
        hook, began, turns = VideoGatewayHook(), time.time(), iter(range(n))
        tasks: list[asyncio.Task[None]] = []

        async def worker() -> None:
            for i in turns:
                model = self.models[i % len(self.models)]
                if pace:
                    await asyncio.sleep(max(0.0, began + i * pace - time.time()))
                started = await hook.astart(model, self.bodies[model], f"avg_bench_{self.tag}_{i}")
                now = time.time()
                trigger = self.trigger(
                    model=model,
                    operation=dict(started.operation),
                    deadline=began + 3 * 3600.0,
                    poll_interval=self.interval,
                    started_at=now,
                    wait_first=True,
                    expected=self.priors[model],
                )
                self.created += 1
                tasks.append(asyncio.create_task(self._wait(trigger, now)))

        await asyncio.gather(*(worker() for _ in range(START_CONCURRENCY)))
        started_all = time.time()
        _, pending = await asyncio.wait(tasks, timeout=tail)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return started_all, len(pending)

    async def _wait(self, trigger: VideoGenerationTrigger, started: float) -> None:
        async for event in trigger.run():
            self.events.append((time.time(), started, _tagged(event.payload, trigger.model)))
            self.finished += 1
            return


def _trim(payload: dict[str, Any]) -> dict[str, Any]:
    job = ((payload.get("provider_metadata") or {}).get("gateway") or {}).get("asyncJob") or {}
    expires = (job.get("result") or {}).get("expiresAt")
    return {"status": payload.get("status"), "polls": payload.get("polls"), "expires_at_ms": expires}


def _tagged(payload: dict[str, Any], model: str) -> dict[str, Any]:
    return {**_trim(payload), "model": model}


def _calls_and_lags(events: Sequence[tuple[float, float, dict[str, Any]]], interval: float) -> dict[str, Any]:
    """Status calls per completed video and detection lags, from a wave's events."""
    completed = [e for e in events if e[2]["status"] == "completed" and e[2]["expires_at_ms"]]
    calls = [e[2]["polls"] or 0 for e in completed]
    lags = [t - (e["expires_at_ms"] / 1000 - FILE_TTL) for t, _, e in completed]
    durations = [e["expires_at_ms"] / 1000 - FILE_TTL - started for _, started, e in completed]
    return {
        "completed": len(completed),
        "calls_p50": percentile(calls, 0.5),
        "calls_p99": percentile(calls, 0.99),
        "calls_mean": sum(calls) / len(calls) if calls else float("nan"),
        "lag_p50_s": percentile(lags, 0.5),
        "lag_p99_s": percentile(lags, 0.99),
        # What a client calling every interval from the start makes: the calls before the
        # completion, plus the one that sees it (the official client's way).
        "calls_every_interval": sum(d // interval + 1 for d in durations) / max(1, len(durations)),
    }


async def client_run(
    variant: Variant,
    n: int,
    root_url: str,
    grace: float,
    interval: float = POLL_INTERVAL,
    server_pid: int | None = None,
    spread: str = SPREAD,
    warmup: int = WARMUP,
    warmup_seconds: float = WARMUP_SECONDS,
) -> dict[str, Any]:
    """One variant with N triggers, in this (fresh) process; the raw figures."""
    models = spread_models(spread)
    longest = max(high for _, high in LatencySpread.parse(spread).ranges.values())
    trigger = _timed(variant.trigger)
    cold: dict[str, Any] = {}
    if warmup and variant.learns:
        warm = _Wave(trigger, models, interval)
        count = warmup * len(models)
        await warm.run(count, longest + grace, pace=warmup_seconds / count)
        cold = _calls_and_lags(warm.events, interval)
    del TIMING.asked[:], TIMING.sent[:]
    wave = _Wave(trigger, models, interval)
    # What the waves start from: per model, its expected time (s), batch and whether settled.
    learned = {
        m: (round(ESTIMATES.factor(m).factor * p, 1), *ESTIMATES.factor(m)[1:])
        for m, p in wave.priors.items()
    }
    gc.collect()
    rss_before, cpu_before = rss(), cpu_seconds()
    collections = _GcWatch()
    gc.callbacks.append(collections)
    sampler, stop = _Sampler(root_url, lambda: wave.created - wave.finished, server_pid), asyncio.Event()
    lags: list[tuple[float, float]] = []
    tasks_bg = [asyncio.create_task(sampler.run()), asyncio.create_task(_watch_loop(stop, lags))]
    stacks = _BlockStacks(lags)
    stacks.start()
    freezes_before = KEEPER.freezes
    began = time.time()
    started_all, not_finished = await wave.run(n, longest + grace)
    ended = time.time()
    cpu_after = cpu_seconds()
    gc.callbacks.remove(collections)
    stacks.halt.set()
    freezes = KEEPER.freezes - freezes_before
    stop.set()
    sampler.stop.set()
    await asyncio.gather(*tasks_bg)
    # Every wait has ended: what the collector finds now (the loop's watch over) is the cyclic
    # garbage they left, frozen until the last one ended.
    garbage = gc.collect()
    await close_shared_sessions()
    client = _HTTPX_CLIENTS.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
    return {
        "variant": variant.key,
        "n": n,
        "interval": interval,
        "spread": spread,
        "began": began,
        "started_all": started_all,
        "ended": ended,
        "rss_before": rss_before,
        "cpu_total": cpu_after - cpu_before,
        "samples": sampler.samples,
        "lags": lags,
        "events": wave.events,
        "asked": list(TIMING.asked),
        "sent": list(TIMING.sent),
        "not_finished": not_finished,
        "gc": collections.figures(),
        "freezes": freezes,
        "garbage_after": garbage,
        "block_stacks": sorted(stacks.stacks.items(), key=lambda item: -item[1])[:5],
        "cold": cold,
        "learned": learned,
        "load": load(),
    }


def _per_second(times: Sequence[float]) -> int:
    """The most of ``times`` that fall in one second."""
    counts: dict[int, int] = {}
    for t in times:
        counts[int(t)] = counts.get(int(t), 0) + 1
    return max(counts.values(), default=0)


def _in_flight_at(samples: Sequence[tuple[Any, ...]], when: float) -> int:
    """The generations in flight at the sample nearest ``when``."""
    return int(min(samples, key=lambda s: abs(s[0] - when))[5]) if samples else 0


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """The reported figures from one client run."""
    n, samples = raw["n"], raw["samples"]
    after_starts = [s for s in samples if s[0] >= raw["started_all"]]
    steady: dict[str, Any] = {}
    if len(after_starts) >= 2:
        (t0, p0, _, c0, e0, _), (t1, p1, _, c1, e1, _) = after_starts[0], after_starts[-1]
        steady = {
            "cpu_ms_per_call": 1000 * (c1 - c0) / max(1, p1 - p0),
            "client_cores": (c1 - c0) / (t1 - t0),
            "emulator_cores": (e1 - e0) / (t1 - t0),
        }
    peak = max(samples, key=lambda s: s[5], default=None)
    lateness = [sent - asked for asked, sent in zip(raw["asked"], raw["sent"], strict=True)]
    block = [lag for _, lag in raw["lags"]]
    worst = max(raw["lags"], key=lambda entry: entry[1], default=(raw["began"], 0.0))
    return {
        "variant": raw["variant"],
        "n": n,
        "interval": raw["interval"],
        "spread": raw["spread"],
        "not_finished": raw["not_finished"],
        **_calls_and_lags(raw["events"], raw["interval"]),
        "in_flight_peak": peak[5] if peak else 0,
        "kib_per_generation": (peak[2] - raw["rss_before"]) / 1024 / max(1, peak[5]) if peak else None,
        "calls": len(lateness),
        "calls_per_s_asked_peak": _per_second(raw["asked"]),
        "calls_per_s_made_peak": _per_second(raw["sent"]),
        "call_lateness_p99_s": percentile(lateness, 0.99),
        "on_time_share": sum(1 for late in lateness if late <= 1.0) / max(1, len(lateness)),
        "max_block_s": max(block, default=float("nan")),
        "p99_block_s": percentile(block, 0.99),
        # When the longest block and the longest collection ended, in seconds after the first start,
        # with the generations in flight then (the sampler's nearest second).
        "max_block_at_s": round(worst[0] - raw["began"], 1),
        "max_block_in_flight": _in_flight_at(samples, worst[0]),
        "gc_longest_at_s": round(raw["gc"]["longest_at"] - raw["began"], 1),
        "gc_longest_in_flight": _in_flight_at(samples, raw["gc"]["longest_at"]),
        "gc_longest_collected": raw["gc"]["longest_collected"],
        "block_stacks": raw["block_stacks"],
        "gc_full": [(round(t - raw["began"], 1), w, c) for t, w, c in raw["gc"]["full"]],
        "start_seconds": round(raw["started_all"] - raw["began"], 1),
        **steady,
        "gc_share": raw["gc"]["cpu_seconds"] / raw["cpu_total"] if raw["cpu_total"] else None,
        "gc_longest_s": raw["gc"]["longest"],
        "gc_longest_cpu_s": raw["gc"]["longest_cpu"],
        "gc_full_collections": raw["gc"]["full_collections"],
        "freezes": raw["freezes"],
        "garbage_per_generation": raw["garbage_after"] / max(1, raw["n"]),
        "cold": raw["cold"],
        "learned": raw["learned"],
        "by_model": {
            model: _calls_and_lags([e for e in raw["events"] if e[2].get("model") == model], raw["interval"])
            for model in sorted({e[2].get("model") for e in raw["events"]} - {None})
        },
        "load": raw["load"],
    }


def _child(args: argparse.Namespace) -> int:
    raw = asyncio.run(
        client_run(
            BY_KEY[args.child],
            args.n,
            args.root_url,
            args.grace,
            args.interval,
            args.server_pid,
            args.spread,
            args.warmup,
            args.warmup_seconds,
        )
    )
    sys.stdout.write(RESULT_MARKER + json.dumps(summarize(raw)) + "\n")
    return 0


# ------------------------------------------------------------------------------------- the parent


def _gateway_env(emulator: Any) -> dict[str, str]:
    return {"AIRFLOW_CONN_AI_GATEWAY_DEFAULT": emulator.connection_json(timeout=60)}


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
    grace: float,
    env: dict[str, str],
    profile: Path | None = None,
    interval: float = POLL_INTERVAL,
    spread: str = SPREAD,
    warmup: int = WARMUP,
    warmup_seconds: float = WARMUP_SECONDS,
) -> dict[str, Any]:
    """One variant in a fresh process; with ``profile``, under ``py-spy record``."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.triggerer_scale",
        *("--child", variant, "--n", str(n), "--root-url", emulator.root_url, "--grace", str(grace)),
        *("--interval", str(interval), "--spread", spread),
        *("--warmup", str(warmup), "--warmup-seconds", str(warmup_seconds)),
        *(["--server-pid", str(emulator.pid)] if emulator.pid else []),
    ]
    if profile is not None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        command = [spy, "record", "--nonblocking", "--rate", "200", "--format", "speedscope"]
        command += ["-o", str(profile), "--", *command]
    longest = max(high for _, high in LatencySpread.parse(spread).ranges.values())
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
        timeout=warmup_seconds + 2 * (longest + grace) + n / 50 + 600,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return result
    raise RuntimeError(
        f"{variant} N={n} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    )


def in_loop(
    sizes: Sequence[int],
    variants: Sequence[str],
    sync_max: int,
    grace: float,
    interval: float = POLL_INTERVAL,
    spread: str = SPREAD,
    warmup: int = WARMUP,
    warmup_seconds: float = WARMUP_SECONDS,
) -> list[dict[str, Any]]:
    """Every variant at every N, one after the other against the same emulator (reset between)."""
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess

    results = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess(
            latency=5.0, latency_spread=spread, file_ttl=FILE_TTL, startup_timeout=120
        ) as emulator,
    ):
        env = {**_airflow_env(Path(tmp)), **_gateway_env(emulator)}
        for n in sizes:
            for key in variants:
                if key == "httpx_sync" and n > sync_max:
                    print(f"  skipped {key} at N={n:,} (over --sync-max {sync_max:,})", file=sys.stderr)
                    continue
                emulator.reset()
                print(f"  {key} N={n:,} (load {load()}) ...", file=sys.stderr, flush=True)
                result = run_client(
                    emulator,
                    key,
                    n,
                    grace,
                    env,
                    interval=interval,
                    spread=spread,
                    warmup=warmup,
                    warmup_seconds=warmup_seconds,
                )
                print(f"    {json.dumps(result)}", file=sys.stderr, flush=True)
                results.append(result)
    return results


def in_loop_table(results: Sequence[dict[str, Any]]) -> str:
    """Calls, lag and whether the loop kept up, per variant and N (ratios against the trigger's
    own figure at the same N)."""
    ours = {r["n"]: r for r in results if r["variant"] == "aiohttp_shared"}
    rows = []
    for r in results:
        base = ours.get(r["n"])
        rows.append(
            (
                r["n"],
                BY_KEY[r["variant"]].label,
                f"{r['completed']:,}/{r['n']:,}",
                f"{r['calls_p50']:g} / {r['calls_p99']:g}",
                ratio(r["calls_mean"], base["calls_mean"] if base else None),
                r["calls_every_interval"],
                r["lag_p50_s"],
                r["lag_p99_s"],
                f"{r['calls_per_s_made_peak']:,} / {r['calls_per_s_asked_peak']:,}",
                r["call_lateness_p99_s"],
                round(r["max_block_s"], 3),
                r["load"],
            )
        )
    headers = (
        "N",
        "trigger",
        "done",
        "calls/video p50 / p99",
        "calls vs ours",
        "1 call per interval",
        "lag p50 s",
        "lag p99 s",
        "calls/s made / asked (peak)",
        "call late p99 s",
        "max block s",
        "load",
    )
    return table(headers, rows)


def cost_table(results: Sequence[dict[str, Any]]) -> str:
    """Memory, CPU and the garbage collector, per variant and N; and the warm-up (cold start)."""
    rows = []
    for r in results:
        cold = r.get("cold") or {}
        rows.append(
            (
                r["n"],
                BY_KEY[r["variant"]].label,
                f"{r['in_flight_peak']:,}",
                r.get("kib_per_generation"),
                r.get("cpu_ms_per_call"),
                r.get("client_cores"),
                r.get("emulator_cores"),
                f"{100 * r['gc_share']:.0f} %" if r.get("gc_share") is not None else None,
                r.get("gc_longest_s"),
                r.get("gc_longest_cpu_s"),
                r.get("gc_full_collections"),
                r.get("freezes"),
                r.get("garbage_per_generation"),
                f"{cold['calls_p50']:g} / {cold['calls_p99']:g}" if cold else "-",
                r["load"],
            )
        )
    headers = (
        "N",
        "trigger",
        "in flight (peak)",
        "KiB/gen",
        "CPU ms/call",
        "client cores",
        "emulator cores",
        "GC share of CPU",
        "longest GC pause s",
        "its CPU s",
        "full GCs",
        "freezes",
        "cyclic garbage/gen",
        "warm-up calls/video p50 / p99",
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
    body, now, out = _body(MODEL), time.time(), []
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
                    "request": {"duration": body.get("duration")},
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
        "blocked": [_blocked(line) for line in blocked],
    }


def _blocked(line: str) -> tuple[str, float]:
    """When (the log line's UTC time of day) and for how long a blocked-loop warning says."""
    when = re.search(r"\d\d:\d\d:\d\d", line)
    seconds = re.search(r"blocked for ([\d.]+) seconds", line)
    return (when.group(0) if when else "?", float(seconds.group(1)) if seconds else float("nan"))


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
            figures["all_deferred_at"] = time.strftime("%H:%M:%S", time.gmtime())
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
            f"status calls/s (a call every {r['interval']:g} s)",
            f"{r['polls_per_s']:.0f} ({r['deferred'] / r['interval']:.0f})",
            r["load"],
        ),
        (
            "'triggers currently running' log lines",
            ", ".join(map(str, r["triggers_running_logged"])) or "-",
            r["load"],
        ),
        ("blocked-loop warnings", str(r["blocked_warnings"]), r["load"]),
        (
            "each: UTC time, seconds (all deferred at)",
            "; ".join(f"{when} {seconds:.2f} s" for when, seconds in r.get("blocked", []))
            + f" ({r.get('all_deferred_at', '?')})",
            r["load"],
        ),
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
    variants: Sequence[str] = DEFAULT_VARIANTS,
    real: int = 1000,
    sync_max: int = 5000,
    grace: float = 60.0,
    observe: float = 60.0,
    slots: int = 8,
    real_timeout: float = 3600.0,
    interval: float = POLL_INTERVAL,
    spread: str = SPREAD,
    warmup: int = WARMUP,
    warmup_seconds: float = WARMUP_SECONDS,
) -> dict[str, Any]:
    """Every measurement; the figures and the tables as text."""
    results = in_loop(sizes, variants, sync_max, grace, interval, spread, warmup, warmup_seconds)
    text = (
        f"Triggers in one event loop against the emulator in another process, job latencies drawn "
        f"from {spread!r}, poll interval {interval:g} s ('calls vs ours': mean calls per video over "
        f"VideoGenerationTrigger's at the same N; '1 call per interval': what calling every "
        f"{interval:g} s from the start makes for the same jobs)\n\n"
        + in_loop_table(results)
        + "\n\nWhat it costs (cores and CPU per call: after the last start; garbage collector: the "
        + "whole wave; warm-up: the same process's first jobs, a cold start)\n\n"
        + cost_table(results)
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


def profile(n: int, out_dir: Path, variant: str = "aiohttp_shared", spread: str = SPREAD) -> Path:
    """Record one client run under py-spy (speedscope JSON in ``out_dir``); prints the summary."""
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"triggerer_scale_{variant}_{n}.speedscope.json"
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess(latency=5.0, latency_spread=spread, file_ttl=FILE_TTL) as emulator,
    ):
        env = {**_airflow_env(Path(tmp)), **_gateway_env(emulator)}
        result = run_client(emulator, variant, n, 60.0, env, profile=path, spread=spread)
    print(json.dumps(result))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="trigger counts (default 1000 10000)"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(DEFAULT_VARIANTS),
        choices=list(BY_KEY),
        help="default: aiohttp_shared fixed_schedule",
    )
    parser.add_argument(
        "--spread",
        default=SPREAD,
        help="the emulator's job latencies: per model a range in seconds, the models of the jobs "
        "(grammar: airflow_video_gen.devtools.emulator.latencies; default: five models over 40-120 s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=WARMUP,
        help=f"warm-up jobs per model before a learning variant's wave; 0 skips (default {WARMUP})",
    )
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=WARMUP_SECONDS,
        help=f"seconds over which the warm-up jobs start (default {WARMUP_SECONDS:g})",
    )
    parser.add_argument(
        "--sync-max", type=int, default=5000, help="largest N for the sync httpx baseline (default 5000)"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=60.0,
        help="seconds after the longest latency before a wave is cut (default 60)",
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
        "--interval", type=float, default=POLL_INTERVAL, help="poll interval in seconds (default 5)"
    )
    parser.add_argument("--profile", type=int, metavar="N", help="py-spy profile of N triggers, then exit")
    parser.add_argument(
        "--profile-dir", type=Path, default=Path("out"), help="where the profile goes (default ./out)"
    )
    parser.add_argument("--child", choices=list(BY_KEY), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root-url", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    if args.profile:
        print(profile(args.profile, args.profile_dir, spread=args.spread))
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
        interval=args.interval,
        spread=args.spread,
        warmup=args.warmup,
        warmup_seconds=args.warmup_seconds,
    )
    print(out["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
