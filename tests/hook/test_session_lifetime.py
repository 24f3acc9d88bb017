"""The event loop's shared aiohttp session lives as long as its loop: shared while the loop runs,
closed when it shuts down, so that a program or a ``dag.test()`` run ends without "Unclosed client
session" or "Unclosed connector" lines, nor logging errors at exit.

The noise shows at the end of a process, so the programs run in subprocesses, against the emulator.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.hooks.gateway import VideoGatewayHook, shared_session
from airflow_video_gen.models import VideoRequest
from airflow_video_gen.protocol import GatewayConfig
from tests.media import fixture_b64

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "klingai/kling-v2.6-i2v"
#: What aiohttp and logging print when a session outlives its loop.
NOISE = ("Unclosed client session", "Unclosed connector", "I/O operation on closed file", "Logging error")

#: Starts a job and polls it to its end with the async transport, 20 polls at a time, then exits.
PROGRAM = """
import asyncio, sys
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.models import VideoRequest
from airflow_video_gen.protocol import GatewayConfig
from tests.media import fixture_b64

base_url, api_key, how = sys.argv[1:4]
model = "klingai/kling-v2.6-i2v"
hook = VideoGatewayHook(config=GatewayConfig(api_key=api_key, base_url=base_url, timeout=10))
body = VideoRequest.from_sdk_call(model, {"prompt": {"image": fixture_b64("start.png"), "text": "x"}}).to_gateway_body()

async def generate():
    operation = (await hook.astart(model, body, "lifetime-" + how)).operation
    while True:
        statuses = await asyncio.gather(*(hook.astatus(model, operation) for _ in range(20)))
        if statuses[-1].status != "pending":
            return statuses[-1].status
        await asyncio.sleep(0.1)

if how == "asyncio.run":
    print(asyncio.run(generate()))
else:  # a loop run and closed by hand, without its shutdown step
    loop = asyncio.new_event_loop()
    print(loop.run_until_complete(generate()))
    loop.close()
"""


@pytest.fixture(scope="module")
def lifetime_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=0.5) as process:
        yield process


def run_python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        timeout=240,
        check=False,
    )


def test_a_program_that_polls_with_asyncio_run_ends_quietly(lifetime_emulator: EmulatorProcess) -> None:
    done = run_python("-c", PROGRAM, lifetime_emulator.base_url, lifetime_emulator.api_key, "asyncio.run")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "completed"
    output = done.stdout + done.stderr
    assert not [line for line in NOISE if line in output], output[-3000:]
    assert "unclosed" not in output.lower(), output[-3000:]  # sockets closed too, not collected


def test_a_loop_closed_by_hand_ends_quietly(lifetime_emulator: EmulatorProcess) -> None:
    """Without ``shutdown_asyncgens()`` nothing runs at the loop's close: the sessions are closed at
    exit (Python may still warn, with warnings enabled, that the loop's sockets were left open)."""
    done = run_python("-c", PROGRAM, lifetime_emulator.base_url, lifetime_emulator.api_key, "by hand")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "completed"
    output = done.stdout + done.stderr
    assert not [line for line in NOISE if line in output], output[-3000:]


def test_the_session_is_shared_while_the_loop_runs_and_closed_when_it_ends(
    lifetime_emulator: EmulatorProcess,
) -> None:
    config = GatewayConfig(api_key=lifetime_emulator.api_key, base_url=lifetime_emulator.base_url, timeout=10)
    body = VideoRequest.from_sdk_call(
        MODEL, {"prompt": {"image": fixture_b64("start.png"), "text": "x"}}
    ).to_gateway_body()

    async def generate() -> tuple[aiohttp.ClientSession, bool]:
        hook = VideoGatewayHook(config=config)
        operation = (await hook.astart(MODEL, body, "lifetime-in-process")).operation
        session = shared_session()
        for _ in range(3):  # calls one after another, and at once, from hooks of their own
            await VideoGatewayHook(config=config).astatus(MODEL, operation)
            await asyncio.gather(
                *(VideoGatewayHook(config=config).astatus(MODEL, operation) for _ in range(5))
            )
        return session, shared_session() is session and not session.closed

    first, shared = asyncio.run(generate())
    assert shared
    assert first.closed
    second, _ = asyncio.run(generate())
    assert second is not first
    assert second.closed


@pytest.mark.slow
def test_a_dag_test_run_with_a_deferred_sensor_leaves_no_connection_open(emulator: EmulatorProcess) -> None:
    """``dag.test()`` runs the trigger inline with ``asyncio.run``: the trigger's session, and its
    connection to the gateway, are closed with that loop, not left open to the end of the process."""
    script = textwrap.dedent(
        """
        import gc, sys
        import psutil
        from tests.airflow_harness import run_dag

        result = run_dag('''
        from airflow.sdk import DAG
        from airflow_video_gen.operators.submit import KlingSubmitOperator
        from airflow_video_gen.sensors.generation import KlingGenerationSensor
        from tests.sdk_reference.examples import START_PNG

        with DAG("session_lifetime", schedule=None) as dag:
            submit = KlingSubmitOperator(task_id="submit", image=START_PNG, text="The cat blinks", duration=5)
            KlingGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2)
        ''', "session_lifetime")
        print("RESULT", result.state, result.xcom("wait")["status"])
        gc.collect()  # what nothing refers to any more goes, and its sockets with it
        port = int(sys.argv[1])
        print("OPEN", [c.status for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port])
        """
    )
    polls_before = emulator.stats()["polls_served"]
    done = run_python("-c", script, str(emulator.port))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "RESULT success completed" in done.stdout, output[-3000:]
    assert "DEFERRED" in output  # the sensor deferred: the trigger polled with aiohttp
    assert emulator.stats()["polls_served"] > polls_before
    assert "OPEN []" in done.stdout, output[-3000:]
    assert not [line for line in NOISE if line in output], output[-3000:]
