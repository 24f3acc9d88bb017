"""Regenerating on a real Airflow (scheduler, triggerer, dag-processor): what a user does after a
generation failed, and what a clear of finished work costs.

The emulators behind these DAGs fail the first job they create and complete the next ones
(:data:`~tests.reliability.stack.FIRST_JOB_FAILS`); their counters say what was billed.
"""

from __future__ import annotations

import pytest

from tests.media import read_mp4
from tests.reliability.conftest import report
from tests.reliability.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

ON_CLEAR = "reliability_regenerate_on_clear"
AUTOMATIC = "reliability_max_regenerations"


def _video(stack: Stack, uri: str) -> tuple[int, float]:
    assert stack.s3 is not None
    bucket, key = uri[len("s3://") :].split("/", 1)
    data = stack.s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    video = read_mp4(data)
    return video.frames, video.fps


def _logs(stack: Stack, dag_id: str, run_id: str, task_id: str) -> str:
    """Every try's log of a task, oldest first."""
    tries = stack.tries(dag_id, run_id).get((task_id, -1), 1)
    return "\n".join(stack.task_log(dag_id, run_id, task_id, attempt=n) for n in range(1, tries + 1))


def _why(stack: Stack, run_id: str) -> str:
    """The task states and the end of each task's logs, for a failure message."""
    logs = "\n".join(
        f"--- {task}:\n{_logs(stack, ON_CLEAR, run_id, task)[-2500:]}"
        for task in ("submit", "wait", "archive")
    )
    return f"{stack.af.task_states(ON_CLEAR, run_id)}\n{logs}"


@pytest.mark.timeout(900)
def test_clearing_a_failed_generation_bills_a_new_one_and_clearing_a_finished_one_bills_nothing(
    stack: Stack,
) -> None:
    emulator = stack.emulators["regen_clear"]
    af = stack.af
    run_id = af.trigger(ON_CLEAR)
    assert af.wait_for_run(ON_CLEAR, run_id, timeout=300, poll=1) == "failed"
    assert emulator.stats()["starts_billed"] == 1, _why(stack, run_id)
    assert "Video generation error" in _logs(stack, ON_CLEAR, run_id, "wait")

    # The user clears submit with its downstream tasks (the sensor, archive), as docs/failures.md says.
    af.cli("tasks", "clear", ON_CLEAR, "--task-regex", "submit", "--downstream", "--yes")
    state = af.wait_for_run(ON_CLEAR, run_id, timeout=300, poll=1)
    assert state == "success", _why(stack, run_id)
    assert emulator.stats()["starts_billed"] == 2
    (submission,) = af.xcoms(ON_CLEAR, run_id, "submit")
    assert submission["attempt"] == 2
    (failed,) = submission["failed_attempts"]
    assert failed["status"] == "error"
    assert failed["attempt"] == 1
    assert failed["message"]
    (archived,) = af.xcoms(ON_CLEAR, run_id, "archive")
    (entry,) = archived["videos"]
    assert _video(stack, entry["s3_uri"]) == (120, 24)  # Kling: 5 s at 24 fps

    # Clearing again, now that the generation completed, re-attaches to it: nothing new is billed.
    af.cli("tasks", "clear", ON_CLEAR, "--task-regex", "submit", "--downstream", "--yes")
    assert af.wait_for_run(ON_CLEAR, run_id, timeout=300, poll=1) == "success"
    stats = emulator.stats()
    assert stats["starts_billed"] == 2
    (again,) = af.xcoms(ON_CLEAR, run_id, "submit")
    assert again["idempotency_key"] == submission["idempotency_key"]
    assert again["operation"] == submission["operation"]
    (rearchived,) = af.xcoms(ON_CLEAR, run_id, "archive")
    assert rearchived["videos"][0]["sha256"] == entry["sha256"]
    report(
        "regenerate_on_clear",
        runs=3,
        starts_billed=stats["starts_billed"],
        start_calls=stats["start_calls"],
        generations_failed=1,
        videos_archived=1,
    )


@pytest.mark.timeout(600)
def test_max_regenerations_bills_two_and_succeeds_in_one_try(stack: Stack) -> None:
    emulator = stack.emulators["regen_auto"]
    af = stack.af
    run_id = af.trigger(AUTOMATIC)
    assert af.wait_for_run(AUTOMATIC, run_id, timeout=300, poll=1) == "success"
    stats = emulator.stats()
    assert stats["starts_billed"] == 2
    tries = stack.tries(AUTOMATIC, run_id)
    assert tries[("generate", -1)] == 1, tries  # regenerated inside the first try, not by a retry
    (result,) = af.xcoms(AUTOMATIC, run_id, "generate")
    assert result["status"] == "completed"
    assert result["attempt"] == 2
    assert [f["status"] for f in result["failed_attempts"]] == ["error"]
    log = _logs(stack, AUTOMATIC, run_id, "generate")
    assert "Regenerating (1 of max_regenerations=2)" in log
    (archived,) = af.xcoms(AUTOMATIC, run_id, "archive")
    assert _video(stack, archived["videos"][0]["s3_uri"]) == (120, 24)
    report("max_regenerations", starts_billed=stats["starts_billed"], tries=1, videos_archived=1)
