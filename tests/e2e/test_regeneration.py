"""A failed generation can be had again, and a finished one is never paid twice.

The emulator's job faults are seeded: with ``job.error=0.5,seed=7`` the first job it creates ends in
``error`` and the next three complete, so each test knows which generation fails.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.hooks.gateway import VideoGatewayHook
from airflow_video_gen.operators.submit import KlingSubmitOperator
from tests.airflow_harness import run_dag
from tests.conftest import point_connection_at

pytestmark = pytest.mark.slow

FIRST_JOB_FAILS = "job.error=0.5,seed=7"


@pytest.fixture
def first_fails(airflow_home: Path) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=0.3, faults=FIRST_JOB_FAILS) as emu:
        point_connection_at(emu, "AI_GATEWAY_REGEN")
        yield emu


def _context() -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="regen", run_id=f"run-{uuid.uuid4().hex[:8]}", task_id="submit", map_index=-1, try_number=1
    )
    return {"ti": ti}


def _ended(conn_id: str, submission: dict[str, Any]) -> str:
    hook = VideoGatewayHook(conn_id)
    try:
        for _ in range(100):
            status = hook.status(submission["model"], submission["operation"])
            if status.status != "pending":
                return status.status
            time.sleep(0.1)
    finally:
        hook.close()
    raise AssertionError("the generation did not end")


def test_running_again_regenerates_a_failed_generation_and_reattaches_to_a_finished_one(
    first_fails: EmulatorProcess, image_host: Any
) -> None:
    operator = KlingSubmitOperator(
        task_id="submit", image=image_host.url("landscape.png"), text="go", gateway_conn_id="ai_gateway_regen"
    )
    context = _context()  # the same task instance each time: a clear or a retry runs it again
    first = operator.execute(context)
    assert first["attempt"] == 1
    assert first["failed_attempts"] == []
    assert first["gateway_conn_id"] == "ai_gateway_regen"
    assert _ended("ai_gateway_regen", first) == "error"
    assert first_fails.stats()["starts_billed"] == 1

    second = operator.execute(context)
    assert second["attempt"] == 2
    assert second["idempotency_key"] != first["idempotency_key"]
    (failed,) = second["failed_attempts"]
    assert failed["idempotency_key"] == first["idempotency_key"]
    assert failed["status"] == "error"
    assert "injected fault: job.error" in failed["message"]
    assert first_fails.stats()["starts_billed"] == 2
    assert _ended("ai_gateway_regen", second) == "completed"

    third = operator.execute(context)
    assert third["operation"] == second["operation"]
    assert third["attempt"] == 2
    assert first_fails.stats()["starts_billed"] == 2  # nothing paid twice


def test_max_regenerations_gets_the_video_in_one_try(first_fails: EmulatorProcess, image_host: Any) -> None:
    landscape = image_host.url("landscape.png")
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.submit import KlingSubmitOperator

    with DAG("regenerate_in_one_try", schedule=None) as dag:
        KlingSubmitOperator(task_id="make", image={landscape!r}, text="go", wait_for_completion=True,
                            max_regenerations=2, poll_interval=0.3, gateway_conn_id="ai_gateway_regen")
    """
    result = run_dag(source, "regenerate_in_one_try")
    assert result.state == "success", result.states
    assert result.tries["make"] == 1
    made = result.xcom("make")
    assert made["status"] == "completed"
    assert made["attempt"] == 2
    assert [f["status"] for f in made["failed_attempts"]] == ["error"]
    assert first_fails.stats()["starts_billed"] == 2


def test_without_max_regenerations_a_failed_generation_fails_the_task(
    first_fails: EmulatorProcess, image_host: Any
) -> None:
    operator = KlingSubmitOperator(
        task_id="submit",
        image=image_host.url("landscape.png"),
        text="go",
        gateway_conn_id="ai_gateway_regen",
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.2,
    )
    context = _context()
    context["ti"].xcom_push = lambda **_: None
    with pytest.raises(AirflowFailException, match=r"injected fault: job\.error"):
        operator.execute(context)
    assert first_fails.stats()["starts_billed"] == 1
