"""What staging and archive say when S3 or a download fails, against moto and the emulator: a
bucket that does not exist (no retry, the bucket named), and downloads whose every try says
whether Airflow retries it (a real DAG run)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.staging import StageImageOperator
from tests.airflow_harness import run_dag
from tests.conftest import point_connection_at
from tests.s3.conftest import Generate, task_context

pytestmark = pytest.mark.slow

GROK = "xai/grok-imagine-video"


def missing_bucket(s3: Any) -> str:
    name = f"missing-{uuid.uuid4().hex[:12]}"
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    return name


def test_staging_into_a_missing_bucket_fails_at_once_naming_it(
    s3: Any, tmp_path: Path, png_bytes: bytes
) -> None:
    nope = missing_bucket(s3)
    path = tmp_path / "cat.png"
    path.write_bytes(png_bytes)
    op = StageImageOperator(task_id="stage", image=str(path), dest_s3_uri=f"s3://{nope}/in/", retries=3)
    with pytest.raises(AirflowFailException) as failed:
        op.execute(task_context("stage"))
    assert str(failed.value) == (
        f"S3 bucket '{nope}' does not exist (StageImageOperator dest_s3_uri=s3://{nope}/in/); "
        "create it or fix dest_s3_uri"
    )


def test_an_unreachable_image_url_fails_the_try_saying_what_comes_next(bucket: str) -> None:
    op = StageImageOperator(
        task_id="stage",
        image="http://127.0.0.1:9/cat.png?sig=secret",
        dest_s3_uri=f"s3://{bucket}/in/",
        retries=2,
    )
    with pytest.raises(AirflowException) as first:
        op.execute(task_context("stage"))
    assert not isinstance(first.value, AirflowFailException)
    assert str(first.value) == (
        "Could not fetch image=http://127.0.0.1:9/cat.png?...: ConnectError; try 1 of 3: Airflow retries it"
    )
    last = task_context("stage")
    last["ti"].try_number, last["ti"].max_tries = 3, 2
    with pytest.raises(AirflowException, match=r"; that was the last try \(retries=2\): the task fails$"):
        op.execute(last)


def test_archiving_into_a_missing_bucket_fails_before_downloading(
    emulator: EmulatorProcess, generate: Generate, s3: Any, image_host: Any
) -> None:
    generation = generate(GROK, image=image_host.url("landscape.png"), duration=1)
    nope = missing_bucket(s3)
    served = emulator.stats()["files_served"]
    op = ArchiveVideoOperator(
        task_id="archive", generation=generation, dest_s3_uri=f"s3://{nope}/videos/", retries=3
    )
    with pytest.raises(AirflowFailException) as failed:
        op.execute(task_context("archive"))
    assert str(failed.value) == (
        f"S3 bucket '{nope}' does not exist (ArchiveVideoOperator dest_s3_uri=s3://{nope}/videos/); "
        "create it or fix dest_s3_uri"
    )
    assert emulator.stats()["files_served"] == served


@pytest.fixture
def broken_files(airflow_home: Path) -> Iterator[EmulatorProcess]:
    """A gateway whose result files always answer 500 (start and status work)."""
    with EmulatorProcess(latency=0.3, faults="files.500=1") as emu:
        point_connection_at(emu, "AI_GATEWAY_BROKEN_FILES")
        yield emu


def test_each_archive_try_says_whether_airflow_retries_it(
    broken_files: EmulatorProcess,
    image_host: Any,
    bucket: str,
    s3: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = f"""
    from datetime import timedelta
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from airflow_video_gen.operators.submit import GrokSubmitOperator
    from airflow_video_gen.sensors.generation import GrokGenerationSensor

    with DAG("archive_retry_notes", schedule=None) as dag:
        submit = GrokSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r}, duration=1,
                                    gateway_conn_id="ai_gateway_broken_files")
        wait = GrokGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2)
        ArchiveVideoOperator(task_id="archive", generation=wait.output, dest_s3_uri="s3://{bucket}/videos/",
                             retries=1, retry_delay=timedelta(seconds=0))
    """
    capfd.readouterr()
    result = run_dag(source, "archive_retry_notes")
    out, err = capfd.readouterr()
    log = out + err
    assert (result.states["archive"], result.tries["archive"]) == ("failed", 2)
    key = result.xcom("submit")["idempotency_key"]
    said = (
        f"Download for s3://{bucket}/videos/{GROK.replace('/', '-')}/{key}/video-0.mp4 failed: AI Gateway 500 "
        f"internal_server_error: Internal server error (injected fault) ({broken_files.base_url}, "
        "connection ai_gateway_broken_files); "
    )
    assert said + "try 1 of 2: Airflow retries it" in log
    assert said + "that was the last try (retries=1): the task fails" in log
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
