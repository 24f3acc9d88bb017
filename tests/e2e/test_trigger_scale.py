"""500 triggers at once in one event loop against the emulator: all complete, the loop never
blocks, connections are pooled."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psutil
import pytest

from airflow_video_gen.emulator.process import EmulatorProcess
from airflow_video_gen.hooks.gateway import ASYNC_POOL_SIZE, VideoGatewayHook, close_shared_sessions
from airflow_video_gen.models import VideoRequest
from airflow_video_gen.triggers.generation import VideoGenerationTrigger
from tests.imaging import make_image

pytestmark = [pytest.mark.slow]

TRIGGERS = 500
MODEL = "klingai/kling-v2.6-i2v"


class ConnectionCounter(threading.Thread):
    """Samples, from another thread, how many TCP connections this process holds to a port."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop.is_set():
            count = sum(1 for c in me.net_connections(kind="tcp") if c.raddr and c.raddr.port == self.port)
            self.peak = max(self.peak, count)
            time.sleep(0.05)


async def _watch_loop(done: asyncio.Event, lags: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not done.is_set():
        before = loop.time()
        await asyncio.sleep(0.01)
        lags.append(loop.time() - before - 0.01)


async def test_500_triggers_complete_without_blocking_and_share_connections(
    emulator: EmulatorProcess,
) -> None:
    body = VideoRequest.from_sdk_call(
        MODEL, {"prompt": {"image": make_image(320, 320), "text": "scale"}, "duration": 5}
    ).to_gateway_body()
    hook = VideoGatewayHook()
    starts = await asyncio.gather(*(hook.astart(MODEL, body, f"avg_scale_{i}") for i in range(TRIGGERS)))
    polls_before = emulator.stats()["polls_served"]
    deadline = time.time() + 180
    triggers = [
        VideoGenerationTrigger(model=MODEL, operation=s.operation, deadline=deadline, poll_interval=0.5)
        for s in starts
    ]
    assert emulator.port is not None
    counter = ConnectionCounter(emulator.port)
    counter.start()
    done, lags = asyncio.Event(), []
    watcher = asyncio.create_task(_watch_loop(done, lags))

    async def first_event(trigger: VideoGenerationTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    events = await asyncio.gather(*(first_event(t) for t in triggers))
    done.set()
    await watcher
    counter.stop.set()
    counter.join()
    await close_shared_sessions()

    assert [e["status"] for e in events] == ["completed"] * TRIGGERS
    assert max(lags) < 0.2, f"event loop blocked for {max(lags):.3f} s"
    assert 0 < counter.peak <= ASYNC_POOL_SIZE, counter.peak
    polls = emulator.stats()["polls_served"] - polls_before
    assert polls >= TRIGGERS
    assert sum(e["polls"] for e in events) == polls
