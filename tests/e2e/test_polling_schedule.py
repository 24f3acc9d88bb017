"""The trigger's polling schedule against the emulator: status calls when an answer is likely,
videos found within the interval, and what the triggerer learns from the waits it has seen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.hooks.gateway import VideoGatewayHook, close_shared_sessions
from airflow_video_gen.polling import BATCH, ESTIMATES, JITTER
from airflow_video_gen.triggers.generation import VideoGenerationTrigger
from tests.conftest import point_connection_at
from tests.imaging import make_image

pytestmark = [pytest.mark.slow]

MODEL = "klingai/kling-v2.6-i2v"
#: Every job of the model takes 6 to 7 s. The interval is long against what a busy machine adds to
#: a call (loop lag, a slow answer), so that the counts below do not depend on the load.
LOW, HIGH = 6.0, 7.0
INTERVAL = 1.0


@pytest.fixture(scope="module")
def spread_emulator(airflow_home: Path) -> Iterator[tuple[EmulatorProcess, str]]:
    with EmulatorProcess(latency=0.1, latency_spread=f"{MODEL}={LOW}-{HIGH},seed=5") as emulator:
        conn_id = point_connection_at(emulator, "AI_GATEWAY_SPREAD")
        asyncio.run(_wave(conn_id, 1, expected=LOW))  # the one render, before any timing
        yield emulator, conn_id


def _body() -> dict[str, Any]:
    from airflow_video_gen.models import VideoRequest

    call = {"prompt": {"image": make_image(320, 320), "text": "schedule"}, "duration": 5}
    return VideoRequest.from_sdk_call(MODEL, call).to_gateway_body()


async def _wave(
    conn_id: str, n: int, *, expected: float, fixed: bool = False
) -> list[tuple[float, float, dict[str, Any]]]:
    """``n`` jobs started together, each waited for by its own trigger as a deferred task waits;
    ``(start, event time, event)`` of each."""
    hook, body = VideoGatewayHook(conn_id), _body()
    tag = time.time_ns()

    async def one(i: int) -> tuple[float, float, dict[str, Any]]:
        started = await hook.astart(MODEL, body, f"avg_schedule_{tag}_{i}")
        began = time.time()
        trigger = VideoGenerationTrigger(
            model=MODEL,
            operation=started.operation,
            deadline=began + 60,
            poll_interval=INTERVAL,
            gateway_conn_id=conn_id,
            started_at=began,
            wait_first=True,
            expected=expected,
            fixed_interval=fixed,
        )
        async for event in trigger.run():
            return began, time.time(), dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    try:
        return list(await asyncio.gather(*(one(i) for i in range(n))))
    finally:
        await close_shared_sessions()


def _done_at(event: dict[str, Any]) -> float:
    """When the emulator completed the job: its ``expiresAt`` less the file lifetime (3600 s)."""
    return float(event["provider_metadata"]["gateway"]["asyncJob"]["result"]["expiresAt"]) / 1000 - 3600


def test_a_wait_calls_from_the_expected_time_and_finds_the_video_within_the_interval(
    spread_emulator: tuple[EmulatorProcess, str],
) -> None:
    emulator, conn_id = spread_emulator
    before = emulator.stats()["polls_served"]
    adaptive = asyncio.run(_wave(conn_id, 8, expected=LOW))
    served = emulator.stats()["polls_served"] - before
    fixed = asyncio.run(_wave(conn_id, 8, expected=LOW, fixed=True))

    assert [e["status"] for _, _, e in adaptive + fixed] == ["completed"] * 16
    assert served == sum(e["polls"] for _, _, e in adaptive)
    # From 6 s on, every 1 s (±10 %), for videos done by 7 s: 3 calls, 4 with one late answer.
    # The fixed schedule, a call every 1 s (±10 %) from the start, needs 6 or more for each.
    assert max(e["polls"] for _, _, e in adaptive) <= 4
    assert min(e["polls"] for _, _, e in fixed) >= 6
    for _, found, event in adaptive:
        assert 0 <= found - _done_at(event) <= INTERVAL * (1 + JITTER) + 0.5


def test_the_triggerer_learns_where_a_models_videos_are_done(
    spread_emulator: tuple[EmulatorProcess, str],
) -> None:
    _, conn_id = spread_emulator
    ESTIMATES.clear()
    try:
        # A prior far too early: the first waits call every 1 s from 0.5 s on.
        first = asyncio.run(_wave(conn_id, BATCH, expected=0.5))
        factor, batch, settled = ESTIMATES.factor(MODEL)
        second = asyncio.run(_wave(conn_id, 8, expected=0.5))
    finally:
        ESTIMATES.clear()
    assert (batch, settled) == (1, True)
    # Where a video was done is known to within the interval between two calls.
    assert LOW - INTERVAL <= factor * 0.5 <= HIGH + INTERVAL
    assert min(e["polls"] for _, _, e in first) >= 7
    assert max(e["polls"] for _, _, e in second) <= 4
    for _, found, event in second:
        assert found - _done_at(event) <= INTERVAL * (1 + JITTER) + 0.5
