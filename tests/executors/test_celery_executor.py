"""The flagship DAG on Airflow's CeleryExecutor: a real Redis broker, two Celery workers that share no
local file, two triggerers, one of them killed with SIGKILL while it runs deferred batch waits. The
other takes its triggers over; every video is made once, billed once and archived once."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.executors.celery_stack import BUCKET, DAG_ID, MISSING_REDIS, REDIS_SERVER, CeleryStack
from tests.media import read_mp4
from tests.reliability.conftest import report
from tests.reliability.stack import wait_for

pytestmark = [pytest.mark.slow]

#: Two of the sample images (flower_dusk.png, flower_open.png) through the DAG's two default models,
#: in batches of two: two mapped batches, each with its own deferred wait (one trigger each).
PATTERN = "flower"
GENERATIONS = 4
BATCH_SIZE = 2
BATCHES = GENERATIONS // BATCH_SIZE
#: Seconds each generation takes: the kill comes well before the first one ends (the first has
#: been in flight for 8 s when it comes, on two cores at a load of 14).
LATENCY = 30.0
#: Both default models make 5 s videos when no duration is asked for.
SECONDS = 5


@pytest.fixture
def celery_stack(tmp_path: Path) -> Iterator[CeleryStack]:
    if not REDIS_SERVER.exists():
        pytest.fail(MISSING_REDIS, pytrace=False)
    stack = CeleryStack(tmp_path, latency=LATENCY).start()
    try:
        yield stack
    finally:
        stack.stop()


def _trigger_map_indexes(stack: CeleryStack, run_id: str) -> dict[int, int]:
    """Trigger id -> map index of the deferred wait (the batch) it belongs to."""
    rows = stack.af.query(
        "select trigger_id, map_index from task_instance "
        "where dag_id = ? and run_id = ? and task_id = 'wait' and trigger_id is not null",
        (DAG_ID, run_id),
    )
    return dict(rows)


def _all_deferred_and_taken(stack: CeleryStack, run_id: str) -> dict[int, int] | None:
    """Trigger id -> triggerer job id, once every batch's wait has deferred and each trigger is taken."""
    triggers = _trigger_map_indexes(stack, run_id)
    taken = {trigger: job for trigger, job in stack.assignments().items() if trigger in triggers and job}
    return taken if len(triggers) == len(taken) == BATCHES else None


@pytest.mark.timeout(420)
def test_flagship_dag_on_celery_loses_nothing_when_a_triggerer_dies(celery_stack: CeleryStack) -> None:
    stack, af = celery_stack, celery_stack.af
    assert stack.emulator is not None
    began = time.monotonic()
    conf = {"source": f"s3://{BUCKET}/inputs/", "pattern": PATTERN, "batch_size": BATCH_SIZE}
    run_id = af.trigger(DAG_ID, conf)

    taken = wait_for(
        lambda: _all_deferred_and_taken(stack, run_id),
        timeout=240,
        what=lambda: (
            f"{BATCHES} deferred waits with their triggers taken (tasks: {af.task_states(DAG_ID, run_id)})"
        ),
    )
    deferred_after = time.monotonic() - began
    map_indexes = _trigger_map_indexes(stack, run_id)

    # The triggerer holding the most triggers dies; it was running them, not only assigned them.
    held = Counter(taken.values())
    victim = max(stack.triggerer_jobs, key=lambda name: held[stack.triggerer_jobs[name]])
    victim_job = stack.triggerer_jobs[victim]
    (survivor,) = set(stack.triggerer_jobs) - {victim}
    survivor_job = stack.triggerer_jobs[survivor]
    moved = {trigger for trigger, job in taken.items() if job == victim_job}
    assert moved, taken
    wait_for(
        lambda: all(
            "starting" in stack.trigger_logs(run_id, "wait", map_indexes[t]).get(victim_job, "")
            for t in moved
        ),
        timeout=30,
        what=f"{victim} to start the triggers assigned to it",
    )
    af.kill_component(victim, signal.SIGKILL, keep_down=True)
    killed_at = time.monotonic()
    submitted = [record["submitted_at"] for batch in af.xcoms(DAG_ID, run_id, "submit") for record in batch]
    in_flight_for = time.time() - min(submitted)
    assert af.processes[victim].poll() is not None
    in_flight = stack.emulator.stats()
    assert in_flight["jobs"]["completed"] == 0, "the kill must come while every generation is in flight"
    assert in_flight["starts_billed"] == GENERATIONS

    def taken_over() -> bool:
        now = stack.assignments()
        return all(now.get(trigger) == survivor_job for trigger in moved)

    wait_for(
        taken_over,
        timeout=stack.reassign_after + 60,
        what=f"{survivor} to take {victim}'s triggers",
        poll=0.2,
    )
    reassigned_in = time.monotonic() - killed_at

    state = af.wait_for_run(DAG_ID, run_id, timeout=240, poll=1)
    took = time.monotonic() - began
    assert state == "success", (af.task_states(DAG_ID, run_id), af.log_tail(survivor))

    # Each wait's trigger fired once, in the survivor for those that moved; the dead one fired none.
    fired: dict[int, int] = {}
    for trigger, index in map_indexes.items():
        logs = stack.trigger_logs(run_id, "wait", index)
        fired[index] = sum(text.count('"Trigger fired event"') for text in logs.values())
        if trigger in moved:
            assert '"Trigger fired event"' not in logs[victim_job]
            assert '"Trigger fired event"' in logs[survivor_job]
    assert fired == dict.fromkeys(range(BATCHES), 1)

    # Every task ran on a Celery worker, both workers ran some, and no task ran twice: each wait
    # ended once deferred and once done, every other task once done, all in their first try.
    expected = {("plan", -1): ["success"]} | {
        (task, index): ["deferred", "success"] if task == "wait" else ["success"]
        for task in ("stage", "submit", "wait", "archive")
        for index in range(BATCHES)
    }
    # A task reports its state before its supervisor logs its end: wait for every end to be logged.
    ends = wait_for(
        lambda: _task_ends(stack, run_id, sum(map(len, expected.values()))),
        timeout=60,
        what=lambda: f"the workers to log every task's end: {_task_ends(stack, run_id, 0)}",
    )
    assert {key: sorted(finals) for key, finals in ends.items()} == expected
    by_worker = Counter(worker for worker, *_ in stack.task_ends())
    assert set(by_worker) == {"worker-1", "worker-2"}, by_worker
    # A delivery the api-server was too busy to start is delivered again (Airflow's doing): counted.
    deliveries = stack.deliveries()
    tries = af.query(
        "select task_id, map_index, try_number from task_instance where dag_id = ? and run_id = ?",
        (DAG_ID, run_id),
    )
    assert {number for *_, number in tries} == {1}, tries
    # The workers never opened the metadata database: the SQLite file in each one's home has no table.
    for name, own in stack.workers.items():
        database = own / "home" / "airflow.db"
        assert not database.exists() or _tables(database) == [], name

    # Each generation completed once, was billed once and archived once, as a video that plays.
    waits = [record for batch in af.xcoms(DAG_ID, run_id, "wait") for record in batch]
    archives = [record for batch in af.xcoms(DAG_ID, run_id, "archive") for record in batch]
    assert len(waits) == len(archives) == GENERATIONS
    assert {a["status"] for a in archives} == {"archived"}
    assert all(w["status"] == "completed" and len(w["videos"]) == 1 for w in waits)
    operations = [json.dumps(w["operation"], sort_keys=True) for w in waits]
    assert len(set(operations)) == GENERATIONS
    stats = stack.emulator.stats()
    assert (stats["start_calls"], stats["starts_billed"]) == (GENERATIONS, GENERATIONS)
    assert stats["jobs"]["completed"] == GENERATIONS

    videos = [a["videos"][0] for a in archives]
    keys = {v["s3_uri"].removeprefix(f"s3://{BUCKET}/") for v in videos}
    assert {k for k in stack.s3_objects("videos/") if k.endswith(".mp4")} == keys
    sidecars = [
        json.loads(stack.s3_read(v["sidecar_s3_uri"].removeprefix(f"s3://{BUCKET}/"))) for v in videos
    ]
    assert sorted(json.dumps(s["operation"], sort_keys=True) for s in sidecars) == sorted(operations)
    models = Counter(s["model"] for s in sidecars)
    assert models == {"bytedance/seedance-v1.0-pro-fast": 2, "klingai/kling-v2.6-i2v": 2}
    for key in sorted(keys):
        mp4 = read_mp4(stack.s3_read(key))
        assert mp4.duration == pytest.approx(SECONDS, abs=0.1), (key, mp4.frames, mp4.fps)

    report(
        "celery_two_triggerers",
        generations=GENERATIONS,
        videos_archived=len(keys),
        start_calls=stats["start_calls"],
        starts_billed=stats["starts_billed"],
        triggers_on_killed_triggerer=len(moved),
        triggers_on_survivor_before_kill=len(taken) - len(moved),
        seconds_first_generation_in_flight_at_kill=round(in_flight_for, 1),
        latency_s=LATENCY,
        seconds_to_all_deferred=round(deferred_after, 1),
        seconds_to_reassign=round(reassigned_in, 1),
        reassign_threshold_s=stack.reassign_after,
        trigger_events_per_wait=sorted(set(fired.values())),
        batches=BATCHES,
        wait_runs_per_batch=sorted({len(finals) for (task, _), finals in ends.items() if task == "wait"}),
        task_runs_per_worker=dict(sorted(by_worker.items())),
        deliveries_not_started=len(deliveries) - sum(by_worker.values()),
        task_retries=sum(number - 1 for *_, number in tries),
        seconds_stack_start=round(stack.started_in, 1),
        seconds_run=round(took, 1),
        seconds_total=round(stack.started_in + took, 1),
    )


def _task_ends(stack: CeleryStack, run_id: str, count: int) -> dict[tuple[str, int], list[str]] | None:
    """(task id, map index) -> how each run of it on a worker ended, once ``count`` runs have ended."""
    tasks = {
        ti: (task_id, index)
        for ti, task_id, index in stack.af.query(
            "select id, task_id, map_index from task_instance where dag_id = ? and run_id = ?",
            (DAG_ID, run_id),
        )
    }
    ends: dict[tuple[str, int], list[str]] = {}
    for _, ti, final in stack.task_ends():
        ends.setdefault(tasks[ti], []).append(final)
    return ends if sum(map(len, ends.values())) >= count else None


def _tables(database: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("select name from sqlite_master")]
