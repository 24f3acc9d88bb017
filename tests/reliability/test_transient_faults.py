"""A quarter of all gateway calls fail (429 with Retry-After, 500, 503, dropped connections, answers
lost after the call was carried out) or answer late, on every endpoint: forty generations still
go through stage, submit, sensor and archive with none lost, none billed twice and no task failed.
The lost answers are the hard case: the gateway started (and billed) the generation, the client
never heard, and only the idempotency key keeps its retry from billing again.

Run with ``dag.test()``: tasks run one after another in this process, so the fault waits add up
(each at most a few seconds: ``Retry-After`` 1 s, slow answers 1 s, backoff from 1 s), but a task
costs a few milliseconds of scheduling instead of a second of process start, DAG parse and
api-server round trips on the real stack; 40 generations are 160 task runs. The start calls
draw their faults from a seeded stream of their own, in the order the submits run: the 7th and
the 21st start answers are lost, so the lost-answer case is always exercised. The real stack's
own recovery (crashed triggerer and workers) is the subject of ``test_crash_recovery.py``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from tests.airflow_harness import run_dag
from tests.imaging import make_image
from tests.reliability.conftest import AWS_CONN, leftovers, report, retries_by_task, use_gateway

pytestmark = [pytest.mark.slow]

COUNT = 40
#: A quarter of the calls to every endpoint (start, status, files) fail or answer late.
FAULTS = "*.429=0.07,*.500=0.05,*.503=0.05,*.drop=0.02,*.lost=0.02,*.slow=0.04,seed=11,retry_after=1,slow_s=1"
#: Fault kinds that fail a call (``slow`` answers, late).
FAILING = ("429", "500", "502", "503", "drop", "lost")
COLORS = (
    "navy",
    "seagreen",
    "firebrick",
    "goldenrod",
    "teal",
    "orchid",
    "slategray",
    "peru",
    "olive",
    "tomato",
)


@pytest.fixture
def faulty_gateway(airflow_home: Path) -> Any:
    with EmulatorProcess(latency=0.5, faults=FAULTS) as emulator:
        yield emulator, use_gateway(emulator, "ai_gateway_rel_faults")


@pytest.mark.timeout(1200)
def test_forty_generations_through_a_quarter_of_calls_failing(
    faulty_gateway: tuple[EmulatorProcess, str], rel_s3: LocalS3, rel_bucket: str, tmp_path: Path
) -> None:
    emulator, conn = faulty_gateway
    images = []
    for i in range(COUNT):
        path = tmp_path / f"frame-{i:03d}.png"
        path.write_bytes(make_image(320 + 2 * (i // len(COLORS)), 180, color=COLORS[i % len(COLORS)]))
        images.append(str(path))
    source = f"""
    from datetime import timedelta
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from airflow_video_gen.operators.staging import StageImageOperator
    from airflow_video_gen.operators.submit import GrokSubmitOperator
    from airflow_video_gen.sensors.generation import GrokGenerationSensor

    with DAG("reliability_transient_faults", schedule=None,
             default_args={{"retries": 4, "retry_delay": timedelta(seconds=1)}}) as dag:
        stage = StageImageOperator.partial(
            task_id="stage", model="xai/grok-imagine-video", dest_s3_uri="s3://{rel_bucket}/staged/",
            aws_conn_id={AWS_CONN!r},
        ).expand(image={images!r})
        # From the presigned URL staging returns (an s3_uri would be presigned again by submit).
        submit = GrokSubmitOperator.partial(
            task_id="submit", text="The colours drift slowly", duration=1, gateway_conn_id={conn!r},
            aws_conn_id={AWS_CONN!r},
        ).expand(image=stage.output.map(lambda staged: staged["url"]))
        # The transient budget of one status call, raised from 5 retries: at a 25 % failure rate,
        # 6 failures in a row happen once in 4,000 calls.
        wait = GrokGenerationSensor.partial(
            task_id="wait", poll_interval=0.5, max_retries=10, gateway_conn_id={conn!r}
        ).expand(submission=submit.output)
        ArchiveVideoOperator.partial(
            task_id="archive", dest_s3_uri="s3://{rel_bucket}/videos/", contact_sheet_tiles=0,
            aws_conn_id={AWS_CONN!r}, gateway_conn_id={conn!r},
        ).expand(generation=wait.output)
    """
    began = time.monotonic()
    result = run_dag(source, "reliability_transient_faults")
    took = time.monotonic() - began
    stats = emulator.stats()

    # No task failed; every generation was billed once and archived once.
    failed = {ti: state for ti, state in result.states.items() if state != "success"}
    assert not failed, failed
    assert result.state == "success"
    assert len(result.states) == 4 * COUNT
    assert stats["starts_billed"] == COUNT
    assert stats["jobs"]["completed"] == COUNT
    # Every start whose answer was lost was sent again with its key and replayed, not billed.
    lost_starts = stats["faults"].get("start.lost", 0)
    assert lost_starts > 0
    assert stats["idempotent_replays"] == lost_starts
    submissions = [result.xcom("submit", map_index=i) for i in range(COUNT)]
    assert len({json.dumps(s["operation"]) for s in submissions}) == COUNT
    archived = [result.xcom("archive", map_index=i) for i in range(COUNT)]
    uris = {a["videos"][0]["s3_uri"] for a in archived}
    assert len(uris) == COUNT
    staged, _ = leftovers(rel_s3, rel_bucket, "staged/")
    assert len(staged) == COUNT
    objects, uploads = leftovers(rel_s3, rel_bucket, "videos/")
    assert len([o for o in objects if o.endswith(".mp4")]) == COUNT
    assert len([o for o in objects if o.endswith(".json") and "/requests/" not in o]) == COUNT  # sidecars
    assert not uploads

    # The faults really happened, on every endpoint.
    faults: Counter[str] = Counter(stats["faults"])
    served = {"start": stats["start_calls"], "status": stats["polls_served"], "files": stats["files_served"]}
    failing = {e: sum(faults[f"{e}.{k}"] for k in FAILING) for e in served}
    assert all(failing.values()), stats["faults"]
    # A lost answer was carried out (and counted as served) but never reached the client.
    answered = {e: served[e] - faults[f"{e}.lost"] for e in served}
    retries_per_call = {e: round(failing[e] / answered[e], 3) for e in served}
    retried = retries_by_task("reliability_transient_faults")
    report(
        "transient_faults",
        generations=COUNT,
        task_runs=len(result.states),
        seconds_total=round(took, 1),
        faults_injected=dict(faults),
        failing_calls=failing,
        answered_calls=answered,
        retries_per_call=retries_per_call,
        starts_billed=stats["starts_billed"],
        idempotent_replays=stats["idempotent_replays"],
        task_retries=retried,
    )
