"""500 triggers at once in one event loop against the emulator: all complete, the loop never
blocks, connections are pooled."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Any

import psutil
import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.hooks.gateway import ASYNC_POOL_SIZE, VideoGatewayHook, close_shared_sessions
from airflow_video_gen.models import VideoRequest
from airflow_video_gen.triggers.generation import VideoGenerationTrigger
from tests.imaging import make_image

pytestmark = [pytest.mark.slow]

TRIGGERS = 500
MODEL = "klingai/kling-v2.6-i2v"


class ConnectionCounter(threading.Thread):
    """Samples, from another thread, the TCP connections this process holds to a port: the most
    open at once, and how many distinct ones were seen (each has its own local port)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.peak = 0
        self.seen: set[int] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop.is_set():
            open_now = [
                c.laddr.port
                for c in me.net_connections(kind="tcp")
                if c.raddr and c.raddr.port == self.port and c.status == psutil.CONN_ESTABLISHED
            ]
            self.peak = max(self.peak, len(open_now))
            self.seen.update(open_now)
            time.sleep(0.05)


async def _watch_loop(done: asyncio.Event, lags: list[float]) -> None:
    """How long the loop kept this coroutine waiting past its 10 ms sleep, counted in the loop
    thread's CPU time: what the loop's own work took, not the time a busy machine gave other
    processes (wall-clock lags on a loaded machine measure the load, not the code)."""
    loop = asyncio.get_running_loop()
    while not done.is_set():
        before, wall = time.thread_time(), loop.time()
        await asyncio.sleep(0.01)
        lags.append(time.thread_time() - before)
        # A call that blocks without using CPU (synchronous I/O) shows only on the clock.
        assert loop.time() - wall < 2.0, f"event loop blocked for {loop.time() - wall:.3f} s"


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
    # A call every 0.5 s from the start (``fixed_interval``): several calls per trigger, for the
    # pooling to show (the expected-time schedule would make one call each, at the same moment).
    triggers = [
        VideoGenerationTrigger(
            model=MODEL, operation=s.operation, deadline=deadline, poll_interval=0.5, fixed_interval=True
        )
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

    # As Airflow's TriggerRunner does: one task per trigger, yielding to the loop between creations.
    # The heap this test process built (pytest, Airflow models, other tests) is frozen first, as a
    # long-running service's start-up objects would be: the watchdog is to catch our code blocking the
    # loop, not the cyclic collector walking objects that are not ours.
    gc.collect()
    gc.freeze()
    tasks = []
    try:
        for trigger in triggers:
            tasks.append(asyncio.create_task(first_event(trigger)))
            await asyncio.sleep(0)
        events = await asyncio.gather(*tasks)
    finally:
        gc.unfreeze()
    done.set()
    await watcher
    counter.stop.set()
    counter.join()
    await close_shared_sessions()

    assert [e["status"] for e in events] == ["completed"] * TRIGGERS
    assert max(lags) < 0.2, f"event loop blocked for {max(lags):.3f} s of CPU time"
    polls = emulator.stats()["polls_served"] - polls_before
    assert polls >= TRIGGERS
    # Pooled: the shared session's limit bounds what is open at once (a socket being replaced may be
    # sampled alongside its successor), and connections are reused across polls.
    assert 0 < counter.peak <= ASYNC_POOL_SIZE + 5, counter.peak
    assert len(counter.seen) < polls / 4, (len(counter.seen), polls)
    assert sum(e["polls"] for e in events) == polls
