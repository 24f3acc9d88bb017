"""Batches keep per-video truth: in a batch of five where one generation fails, four videos are
archived, the failed one is named with the gateway's message, and generating it again bills that one
alone, whatever the order of the items.

The emulator's job faults are seeded: with ``job.error=0.5,seed=64`` the first job it creates ends
in ``error`` and the next eleven complete. The five starts of a batch run in threads, so which item
gets the first job varies; the tests find it by its record.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.operators.batch import BatchSubmitOperator
from tests.airflow_harness import run_dag
from tests.conftest import point_connection_at
from tests.imaging import make_image
from tests.media import read_mp4

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow")]

FIRST_JOB_FAILS = "job.error=0.5,seed=64"
MODEL = "xai/grok-imagine-video"
COLORS = ("firebrick", "seagreen", "navy", "goldenrod", "orchid")


@pytest.fixture(scope="module")
def batch_s3(airflow_home: Path) -> Iterator[LocalS3]:
    """moto's S3 in its own process; connection ``aws_batch``."""
    with LocalS3(subprocess=True) as server:
        os.environ["AIRFLOW_CONN_AWS_BATCH"] = server.connection_json()
        yield server


@pytest.fixture
def bucket(batch_s3: LocalS3) -> str:
    name = f"batch-{uuid.uuid4().hex[:12]}"
    batch_s3.create_bucket(name)
    return name


@pytest.fixture
def first_fails(airflow_home: Path) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=0.3, faults=FIRST_JOB_FAILS) as emu:
        point_connection_at(emu, "AI_GATEWAY_BATCH", verify=False)
        yield emu


@pytest.fixture
def images(tmp_path: Path) -> list[str]:
    paths = []
    for color in COLORS:
        path = tmp_path / f"{color}.png"
        path.write_bytes(make_image(320, 320, color=color))
        paths.append(str(path))
    return paths


def _dag(dag_id: str, images: list[str], bucket: str, submit_extra: str = "", wait: bool = True) -> str:
    wait_task = (
        'wait = BatchGenerationSensor(task_id="wait", submissions=submit.output, poll_interval=0.3)\n'
        "        generations = wait.output"
        if wait
        else "generations = submit.output"
    )
    return f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.batch import (
        BatchArchiveVideoOperator, BatchStageImageOperator, BatchSubmitOperator,
    )
    from airflow_video_gen.sensors.batch import BatchGenerationSensor

    with DAG({dag_id!r}, schedule=None) as dag:
        stage = BatchStageImageOperator(task_id="stage", images={[{"image": i, "model": MODEL} for i in images]!r},
                                        dest_s3_uri="s3://{bucket}/staged/", aws_conn_id="aws_batch")
        submit = BatchSubmitOperator(task_id="submit", requests=stage.output, text="The light moves",
                                     duration=1, gateway_conn_id="ai_gateway_batch", aws_conn_id="aws_batch",
                                     poll_interval=0.3{submit_extra})
        {wait_task}
        archive = BatchArchiveVideoOperator(task_id="archive", generations=generations,
                                            dest_s3_uri="s3://{bucket}/videos/", aws_conn_id="aws_batch")
    """


def _read(s3: LocalS3, uri: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body: bytes = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _check_archived(s3: LocalS3, record: dict[str, Any]) -> None:
    """The record's video is in S3, its bytes are the recorded ones, and it decodes as asked."""
    (video,) = record["videos"]
    data = _read(s3, video["s3_uri"])
    assert hashlib.sha256(data).hexdigest() == video["sha256"]
    mp4 = read_mp4(data)
    assert abs(mp4.duration - 1) <= 1 / 24 + 1e-6
    assert mp4.fps == 24
    sidecar = json.loads(_read(s3, video["sidecar_s3_uri"]))
    assert sidecar["idempotency_key"] == record["idempotency_key"]


def test_a_failed_video_fails_only_its_record_and_a_rerun_bills_only_it(
    first_fails: EmulatorProcess,
    batch_s3: LocalS3,
    bucket: str,
    images: list[str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    capfd.readouterr()
    first = run_dag(_dag("batch_one_fails", images, bucket), "batch_one_fails", logical_date=when)
    log = "".join(capfd.readouterr())

    assert first_fails.stats()["starts_billed"] == 5
    assert (first.states["stage"], first.states["submit"], first.states["wait"]) == ("success",) * 3
    assert first.states["archive"] == "failed"
    records = first.xcom("archive")  # kept although the task failed
    assert len(records) == 5
    failed = [i for i, r in enumerate(records) if r["status"] == "failed"]
    assert len(failed) == 1, records
    (bad,) = failed
    assert records[bad]["step"] == "wait"
    assert records[bad]["model"] == MODEL
    assert "injected fault: job.error" in records[bad]["message"]
    for index, record in enumerate(records):
        if index != bad:
            assert record["status"] == "archived"
            _check_archived(batch_s3, record)
    # The task's error names the failed item: its model, its image and the gateway's message.
    staged = first.xcom("stage")
    assert "1 of 5 item(s) of this batch have no archived video" in log
    assert f"[{bad}] {MODEL}, {staged[bad]['s3_uri']} (at wait): Video generation error" in log
    assert "injected fault: job.error" in log

    # Running the run again (every task cleared): the four finished generations are re-attached,
    # only the failed one is generated again, under the next key of its chain.
    again = run_dag(_dag("batch_one_fails", images, bucket), "batch_one_fails", logical_date=when)
    assert again.run_id == first.run_id
    assert again.state == "success", again.states
    assert first_fails.stats()["starts_billed"] == 6
    submitted = again.xcom("submit")
    before = first.xcom("submit")
    for index, record in enumerate(submitted):
        if index == bad:
            assert record["attempt"] == 2
            (earlier,) = record["failed_attempts"]
            assert earlier["idempotency_key"] == before[bad]["idempotency_key"]
            assert "injected fault: job.error" in earlier["message"]
        else:
            assert (record["attempt"], record["operation"]) == (1, before[index]["operation"])
    archived = again.xcom("archive")
    assert [r["status"] for r in archived] == ["archived"] * 5
    for record in archived:
        _check_archived(batch_s3, record)

    # The same items in another order are the same requests: nothing is started or billed.
    ti = SimpleNamespace(
        dag_id="batch_one_fails", run_id=first.run_id, task_id="submit", map_index=-1, try_number=1
    )
    reordered = BatchSubmitOperator(
        task_id="submit",
        requests=list(reversed(again.xcom("stage"))),
        text="The light moves",
        duration=1,
        gateway_conn_id="ai_gateway_batch",
        aws_conn_id="aws_batch",
    ).execute({"ti": ti})
    assert first_fails.stats()["starts_billed"] == 6
    assert [r["idempotency_key"] for r in reordered] == [r["idempotency_key"] for r in reversed(submitted)]


def test_max_regenerations_gets_every_video_of_the_batch_in_one_try(
    first_fails: EmulatorProcess, batch_s3: LocalS3, bucket: str, images: list[str]
) -> None:
    source = _dag(
        "batch_regenerates",
        images,
        bucket,
        submit_extra=", wait_for_completion=True, max_regenerations=1",
        wait=False,
    )
    result = run_dag(source, "batch_regenerates")
    assert result.state == "success", result.states
    assert result.tries["submit"] == 1
    assert first_fails.stats()["starts_billed"] == 6
    generations = result.xcom("submit")
    assert [g["status"] for g in generations] == ["completed"] * 5
    assert sorted(g["attempt"] for g in generations) == [1, 1, 1, 1, 2]
    (regenerated,) = [g for g in generations if g["attempt"] == 2]
    assert [f["status"] for f in regenerated["failed_attempts"]] == ["error"]
    archived = result.xcom("archive")
    assert [r["status"] for r in archived] == ["archived"] * 5
    for record in archived:
        _check_archived(batch_s3, record)
