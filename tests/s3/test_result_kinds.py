"""Every kind of result archive meets, against real emulators and a moto server: a video URL that
expired before archive read it (a fresh one from the status call, or a clear failure when the
status has none), and videos the gateway delivered to the team's own upload destination."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.protocol import status_from_json
from tests.airflow_harness import run_dag
from tests.conftest import point_connection_at
from tests.imaging import make_image
from tests.s3.conftest import Generate, task_context

pytestmark = pytest.mark.slow

VEO = "google/veo-3.1-fast-generate-001"
TTL = 1.5
FRESH = "the video URL had expired; a fresh one from the status call was used"


@pytest.fixture(scope="module")
def expiring(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator whose result files expire after TTL seconds; connection ``ai_gateway_expiring``.
    Its rendered files are in ``emu.files_dir`` (a test attribute), so a test can remove them."""
    files = tmp_path_factory.mktemp("emulator-files")
    with EmulatorProcess(latency=0.3, file_ttl=TTL, extra_args=["--files-dir", str(files)]) as emu:
        point_connection_at(emu, "AI_GATEWAY_EXPIRING")
        emu.files_dir = files  # type: ignore[attr-defined]
        yield emu


@pytest.fixture(scope="module")
def uploading(airflow_home: Path) -> Iterator[EmulatorProcess]:
    """An emulator that answers with ``{"type": "uploaded"}`` videos; connection ``ai_gateway_uploaded``."""
    with EmulatorProcess(latency=0.3, results="uploaded") as emu:
        point_connection_at(emu, "AI_GATEWAY_UPLOADED")
        yield emu


def read(s3: Any, uri: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_an_expired_url_is_replaced_by_a_fresh_one_from_the_status(
    expiring: EmulatorProcess,
    generate: Generate,
    s3: Any,
    bucket: str,
    decode_mp4: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    generation = generate(VEO, gateway_conn_id="ai_gateway_expiring", image=make_image(), text="pan", seed=11)
    listed = generation["videos"][0]["url"]
    time.sleep(TTL + 0.3)
    polls = expiring.stats()["polls_served"]
    op = ArchiveVideoOperator(
        task_id="archive", generation=generation, dest_s3_uri=f"s3://{bucket}/v/", contact_sheet_tiles=0
    )
    capfd.readouterr()
    (entry,) = op.execute(task_context("archive"))["videos"]
    out, err = capfd.readouterr()
    assert FRESH in out + err + caplog.text
    assert expiring.stats()["polls_served"] == polls + 1  # one more status call, no more
    video = decode_mp4(read(s3, entry["s3_uri"]))
    assert video.fps == 24
    assert entry["delivered_elsewhere"] is False
    sidecar = json.loads(read(s3, entry["sidecar_s3_uri"]))
    assert sidecar["video"]["source"].startswith(expiring.root_url + "/files/")
    assert sidecar["video"]["source"] != listed  # the fresh link, not the expired one


def test_an_expired_url_the_status_cannot_renew_fails_and_says_what_to_do(
    expiring: EmulatorProcess, generate: Generate, s3: Any, bucket: str
) -> None:
    generation = generate(VEO, gateway_conn_id="ai_gateway_expiring", image=make_image(), text="pan", seed=12)
    # The gateway no longer has the result: its status keeps answering with the expired link.
    shutil.rmtree(expiring.files_dir / "renders")  # type: ignore[attr-defined]
    time.sleep(TTL + 0.3)
    op = ArchiveVideoOperator(task_id="archive", generation=generation, dest_s3_uri=f"s3://{bucket}/v/")
    with pytest.raises(AirflowFailException) as failed:
        op.execute(task_context("archive"))
    message = str(failed.value)
    assert f"video 0 of {VEO}" in message
    assert (
        "the video URL had expired and the status call gave no fresh one: the gateway no longer serves "
        "this result. Clearing the submit task re-attaches to this completed generation; to pay for a "
        "new one, change the request or trigger a new run (see Regenerating a video in docs/failures.md)"
    ) in message
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_an_uploaded_status_entry_is_a_completed_result() -> None:
    status = status_from_json(
        {"status": "completed", "videos": [{"type": "uploaded", "mediaType": "video/mp4"}]}
    )
    assert status.status == "completed"
    assert status.videos == [{"type": "uploaded", "mediaType": "video/mp4"}]


def test_videos_delivered_elsewhere_complete_and_are_recorded_without_a_download(
    uploading: EmulatorProcess,
    image_host: Any,
    bucket: str,
    s3: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from airflow_video_gen.operators.submit import GrokSubmitOperator
    from airflow_video_gen.sensors.generation import GrokGenerationSensor

    with DAG("uploaded_results", schedule=None) as dag:
        submit = GrokSubmitOperator(task_id="submit", image={image_host.url("landscape.png")!r}, duration=1,
                                    gateway_conn_id="ai_gateway_uploaded")
        wait = GrokGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.2)
        ArchiveVideoOperator(task_id="archive", generation=wait.output, dest_s3_uri="s3://{bucket}/videos/")
    """
    capfd.readouterr()
    result = run_dag(source, "uploaded_results")
    out, err = capfd.readouterr()
    assert result.state == "success", result.states
    wait = result.xcom("wait")
    assert wait["status"] == "completed"
    assert wait["videos"] == [{"type": "uploaded", "mediaType": "video/mp4"}]
    (entry,) = result.xcom("archive")["videos"]
    assert entry["s3_uri"] is None
    assert entry["delivered_elsewhere"] is True
    assert entry["media_type"] == "video/mp4"
    assert entry["contact_sheet_s3_uri"] is None
    # The sidecar and the archive's index by request are the only objects: no video, no contact
    # sheet, nothing downloaded.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    (index,) = [k for k in keys if "/requests/" in k]
    assert sorted(keys) == sorted([entry["sidecar_s3_uri"].split("/", 3)[3], index])
    sidecar = json.loads(read(s3, entry["sidecar_s3_uri"]))
    assert sidecar["delivered"] == "uploaded"
    assert sidecar["video"]["status_entry"] == {"type": "uploaded", "mediaType": "video/mp4"}
    assert sidecar["model"] == result.xcom("submit")["model"]
    assert uploading.stats()["files_served"] == 0
    assert "delivered by the gateway to the team's upload destination" in out + err
