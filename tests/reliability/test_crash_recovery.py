"""Crashes on a real Airflow (scheduler with LocalExecutor, triggerer, SQLite): the triggerer killed
with SIGKILL while twenty sensors are deferred, and a worker killed between the billable start call
and its XCom. Nothing may be lost and nothing billed twice; a task that needed a retry is counted,
not failed (retries are safe here, and Airflow's apache/airflow#71580 race can cost one)."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from tests.reliability.conftest import report
from tests.reliability.stack import (
    CRASH_LATENCY,
    Stack,
    TableWatcher,
    deferred_count,
    kill_triggerer,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

CRASH_DAG = "reliability_triggerer_crash"
WORKER_DAG = "reliability_worker_crash"
COUNT = 20


def _retries(tries: dict[tuple[str, int], int]) -> dict[str, int]:
    """Retries per task id: tries beyond the first, summed over map indexes."""
    out: Counter[str] = Counter()
    for (task_id, _), number in tries.items():
        out[task_id] += max(0, number - 1)
    return dict(out)


@pytest.mark.timeout(1200)  # the stack's start (half a minute) counts too
def test_triggerer_sigkill_mid_flight_loses_no_video_and_bills_each_once(stack: Stack) -> None:
    emulator = stack.emulators["crash"]
    af = stack.af
    began = time.monotonic()
    run_id = af.trigger(CRASH_DAG)
    with TableWatcher(stack, "select id, triggerer_id from trigger where triggerer_id is not null") as first:
        # Every sensor has read "pending" once and handed its wait to the triggerer.
        wait_for(
            lambda: deferred_count(stack, CRASH_DAG, run_id, "wait") == COUNT,
            timeout=CRASH_LATENCY + 120,
            what=f"{COUNT} deferred sensors (states: {stack.states(CRASH_DAG, run_id, 'wait')})",
        )
        deferred_after = time.monotonic() - began
        # ...and the triggerer has picked their triggers up and is polling.
        wait_for(
            lambda: len({row[0] for row in first.rows}) >= COUNT,
            timeout=60,
            what="the triggerer to take every trigger",
        )
    assert len({row[1] for row in first.rows}) == 1
    in_flight = emulator.stats()
    assert in_flight["jobs"]["completed"] == 0, "the kill must come while every generation is in flight"
    assert in_flight["starts_billed"] == COUNT

    kill_triggerer(stack)
    killed_at = time.monotonic()
    assert af.processes["triggerer"].poll() is not None
    time.sleep(3)
    assert deferred_count(stack, CRASH_DAG, run_id, "wait") == COUNT, "nothing resumes without a triggerer"
    polls_at_restart = emulator.stats()["polls_served"]
    af.start_component("triggerer")
    down = time.monotonic() - killed_at

    with TableWatcher(stack, "select id, triggerer_id from trigger where triggerer_id is not null") as second:
        state = af.wait_for_run(CRASH_DAG, run_id, timeout=CRASH_LATENCY + 420, poll=1)
    took = time.monotonic() - began
    tries = stack.tries(CRASH_DAG, run_id)
    assert state == "success", _why_failed(stack, CRASH_DAG, run_id)

    # Every generation completed and was archived, once, with its sidecar.
    waits = af.xcoms(CRASH_DAG, run_id, "wait")
    archives = af.xcoms(CRASH_DAG, run_id, "archive")
    assert len(waits) == len(archives) == COUNT
    assert all(w["status"] == "completed" and len(w["videos"]) == 1 for w in waits)
    operations = {json.dumps(w["operation"], sort_keys=True) for w in waits}
    assert len(operations) == COUNT
    keys = stack.s3_keys("triggerer-crash/")
    videos = sorted(k for k in keys if k.endswith(".mp4"))
    sidecars = sorted(k for k in keys if k.endswith(".json") and "/requests/" not in k)
    assert len(videos) == len(sidecars) == COUNT
    assert {a["videos"][0]["s3_uri"].split("/", 3)[3] for a in archives} == set(videos)
    assert not stack.pending_uploads("triggerer-crash/")

    # Billed exactly once each: no start was repeated, let alone billed again.
    stats = emulator.stats()
    assert stats["starts_billed"] == COUNT
    assert stats["start_calls"] == COUNT
    assert stats["jobs"]["completed"] == COUNT

    # The waits resumed in the new triggerer: polling went on after the restart, from another
    # triggerer job than the killed one, and no sensor needed a retry to get there.
    triggerers = [
        row[0] for row in af.query("select id from job where job_type = 'TriggererJob' order by id")
    ]
    assert len(triggerers) == 2, triggerers
    new_triggerer = triggerers[-1]
    taken_over = {row[0] for row in second.rows if row[1] == new_triggerer}
    assert len(taken_over) == COUNT, f"the new triggerer took {len(taken_over)} of {COUNT} triggers"
    assert stats["polls_served"] > polls_at_restart
    retries = _retries(tries)
    report(
        "triggerer_crash",
        generations=COUNT,
        deferred_at_kill=COUNT,
        seconds_to_all_deferred=round(deferred_after, 1),
        seconds_triggerer_down=round(down, 1),
        seconds_total=round(took, 1),
        starts_billed=stats["starts_billed"],
        start_calls=stats["start_calls"],
        polls=stats["polls_served"],
        polls_after_restart=stats["polls_served"] - polls_at_restart,
        triggers_taken_over=len(taken_over),
        videos_archived=len(videos),
        sidecars=len(sidecars),
        task_retries=retries,
    )
    assert retries.get("wait", 0) == 0, f"sensors resumed through retries, not the new triggerer: {retries}"


@pytest.mark.timeout(600)
def test_worker_killed_after_start_reattaches_to_the_same_generation(stack: Stack) -> None:
    emulator = stack.emulators["worker"]
    af = stack.af
    run_id, state, took = stack.run(WORKER_DAG, timeout=300)
    tries = stack.tries(WORKER_DAG, run_id)
    assert state == "success", (af.task_states(WORKER_DAG, run_id), tries)

    # Try 1 started the generation and died before writing XCom; try 2 got the same one back.
    assert tries[("submit", -1)] == 2
    first = stack.task_log(WORKER_DAG, run_id, "submit", attempt=1)
    second = stack.task_log(WORKER_DAG, run_id, "submit", attempt=2)
    assert "killing this task's process now" in first
    assert "Pushing xcom" not in first
    submission = af.xcoms(WORKER_DAG, run_id, "submit")[0]
    key = submission["idempotency_key"]
    assert key in first
    assert key in second
    stats = emulator.stats()
    assert stats["start_calls"] == 2
    assert stats["starts_billed"] == 1
    assert stats["idempotent_replays"] == 1
    job = submission["operation"]["gatewayJobId"]
    assert job in first  # the operation try 1 was given is the one try 2 re-attached to

    (archived,) = af.xcoms(WORKER_DAG, run_id, "archive")
    assert len(archived["videos"]) == 1
    videos = [k for k in stack.s3_keys("worker-crash/") if k.endswith(".mp4")]
    assert len(videos) == 1
    report(
        "worker_crash",
        seconds_total=round(took, 1),
        submit_tries=tries[("submit", -1)],
        start_calls=stats["start_calls"],
        starts_billed=stats["starts_billed"],
        idempotent_replays=stats["idempotent_replays"],
        videos_archived=len(videos),
        task_retries=_retries(tries),
    )


def _why_failed(stack: Stack, dag_id: str, run_id: str) -> str:
    """Each failed task instance with the end of each of its tries' logs, then the triggerer's log
    tail, as one string (shown whole where a tuple would be cut short)."""
    failed = stack.af.query(
        "select task_id, map_index, try_number from task_instance "
        "where dag_id = ? and run_id = ? and state = 'failed'",
        (dag_id, run_id),
    )
    parts = [f"task states: {stack.af.task_states(dag_id, run_id)}"]
    for task_id, map_index, tries in failed:
        for attempt in range(1, tries + 1):
            log = stack.task_log(dag_id, run_id, task_id, map_index, attempt)
            parts.append(f"--- {task_id}[{map_index}] try {attempt}:\n" + "\n".join(log.splitlines()[-40:]))
    tail = stack.af.log_tail("triggerer")
    parts.append("--- triggerer:\n" + "\n".join(tail.splitlines()[-60:]))
    return "\n".join(parts)
