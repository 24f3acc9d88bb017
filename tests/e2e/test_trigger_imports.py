"""A triggerer imports a trigger's class on the event loop all its triggers share: ours bring nothing
heavy with them, and a wait imports the hook's HTTP stack in a thread of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.models import VideoRequest
from tests.imaging import make_image

pytestmark = [pytest.mark.slow]

MODEL = "klingai/kling-v2.6-i2v"
#: Imported only for a wait to run, never with a trigger's class.
HEAVY = (
    "aiohttp",
    "httpx",
    "requests",
    "pydantic",
    "airflow_video_gen.hooks.gateway",
    "airflow_video_gen.polling",
    "airflow_video_gen.waiting",
    "airflow_video_gen.families",
)

# In a fresh interpreter, as a triggerer: its runner module loaded, then our classes by their
# classpath (Airflow's own import_string), then three waits started at once on one loop.
TRIGGERER = textwrap.dedent(
    """
    import asyncio, json, sys, threading

    import airflow.jobs.triggerer_job_runner  # what a triggerer has loaded before any trigger
    from airflow._shared.module_loading import import_string

    HEAVY, ops = json.loads(sys.stdin.read())
    first_import = {}

    class Recorder:  # first on sys.meta_path: told of every module imported from now on
        def find_spec(self, name, path=None, target=None):
            if name in HEAVY:
                first_import.setdefault(name, threading.current_thread().name)
            return None

    sys.meta_path.insert(0, Recorder())
    before = set(sys.modules)
    loaded_before = sorted(m for m in HEAVY if m in before)
    wait_class = import_string("airflow_video_gen.triggers.generation.VideoGenerationTrigger")
    import_string("airflow_video_gen.triggers.batch.BatchGenerationTrigger")
    with_classes = sorted(m for m in HEAVY if m in sys.modules and m not in before)

    async def main():
        loop_thread = threading.current_thread().name
        waits = [wait_class(model=op["model"], operation=op["operation"], deadline=op["deadline"],
                            poll_interval=0.5, expected=0.5) for op in ops]

        async def first_event(wait):
            async for event in wait.run():
                return event.payload["status"]

        statuses = await asyncio.gather(*(first_event(w) for w in waits))
        return loop_thread, statuses

    loop_thread, statuses = asyncio.run(main())
    print(json.dumps({"loaded_before": loaded_before, "with_classes": with_classes, "first_import": first_import,
                      "loop_thread": loop_thread, "statuses": statuses}))
    """
)


def test_a_triggerer_loads_our_classes_without_the_http_stack_and_imports_it_off_its_loop(
    emulator: EmulatorProcess,
) -> None:
    body = VideoRequest.from_sdk_call(
        MODEL, {"prompt": {"image": make_image(320, 320), "text": "imports"}, "duration": 5}
    ).to_gateway_body()
    hook = VideoGatewayHook()
    try:
        ops = [
            {"model": MODEL, "operation": hook.start(MODEL, body, f"avg_imports_{time.time()}_{i}").operation}
            for i in range(3)
        ]
    finally:
        hook.close()
    for op in ops:
        op["deadline"] = time.time() + 120

    done = subprocess.run(
        [sys.executable, "-c", TRIGGERER],
        input=json.dumps([HEAVY, ops]),
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    # A triggerer has httpx and pydantic (its Task SDK client and models); none of the others yet.
    assert seen["loaded_before"] == ["httpx", "pydantic"]
    assert seen["with_classes"] == [], "imported with the trigger classes, on the loop"
    assert seen["statuses"] == ["completed"] * 3
    # Every heavy module was imported by the waits, in the one import thread, not the loop's.
    assert sorted(seen["first_import"]) == sorted(set(HEAVY) - {"httpx", "pydantic"})
    assert set(seen["first_import"].values()) == {"airflow_video_gen imports"}
    assert seen["loop_thread"] not in seen["first_import"].values()
