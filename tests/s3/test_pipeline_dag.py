"""The whole chain, run by Airflow: stage an image to S3, submit to Seedance from its s3:// URI (the
emulator fetches the presigned moto URL on loopback), wait in the triggerer, archive to S3."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from tests.airflow_harness import run_dag
from tests.imaging import make_image

pytestmark = pytest.mark.slow

SEEDANCE = "bytedance/seedance-v1.0-pro"


def read(s3: Any, uri: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_stage_submit_wait_archive(
    emulator: EmulatorProcess, moto: LocalS3, s3: Any, bucket: str, tmp_path: Path, decode_mp4: Any
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    image = tmp_path / "start.webp"
    image.write_bytes(make_image(960, 540, fmt="WEBP", color="seagreen"))
    source = f"""
    from airflow.sdk import DAG
    from airflow_video_gen.operators.archive import ArchiveVideoOperator
    from airflow_video_gen.operators.staging import StageImageOperator
    from airflow_video_gen.operators.submit import SeedanceSubmitOperator
    from airflow_video_gen.sensors.generation import SeedanceGenerationSensor

    with DAG("s3_pipeline", schedule=None) as dag:
        stage = StageImageOperator(task_id="stage", image={str(image)!r}, model={SEEDANCE!r},
                                   dest_s3_uri="s3://{bucket}/inputs/", max_side=640, fix=True)
        submit = SeedanceSubmitOperator(task_id="submit", model={SEEDANCE!r}, image=stage.output["s3_uri"],
                                        text="The leaves sway", duration=3, return_last_frame=True)
        wait = SeedanceGenerationSensor(task_id="wait", submission=submit.output, poll_interval=0.3)
        archive = ArchiveVideoOperator(task_id="archive", generation=wait.output,
                                       dest_s3_uri="s3://{bucket}/videos/{{{{ dag.dag_id }}}}/")
    """
    billed = emulator.stats()["starts_billed"]
    result = run_dag(source, "s3_pipeline")
    assert result.state == "success", result.states
    assert emulator.stats()["starts_billed"] - billed == 1

    staged = result.xcom("stage")
    assert staged["fixes"] == ["downscaled 960x540 to 640x360"]
    assert (staged["width"], staged["height"]) == (640, 360)
    assert result.xcom("stage", key="s3_uri") == staged["s3_uri"]
    submitted = result.xcom("submit")
    assert submitted["request"]["prompt"]["image"] == {"source": staged["s3_uri"]}
    assert "X-Amz" not in json.dumps(submitted)
    assert "Signature" not in json.dumps(submitted)

    archived = result.xcom("archive")
    assert len(json.dumps(archived)) < 4096
    (entry,) = archived["videos"]
    key = submitted["idempotency_key"]
    assert (
        entry["s3_uri"] == f"s3://{bucket}/videos/s3_pipeline/bytedance-seedance-v1.0-pro/{key}/video-0.mp4"
    )
    data = read(s3, entry["s3_uri"])
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    video = decode_mp4(data)
    assert abs(video.duration - 3) <= 1 / 24 + 1e-6
    assert video.fps == 24
    sidecar = json.loads(read(s3, entry["sidecar_s3_uri"]))
    assert sidecar["video"]["sha256"] == entry["sha256"]
    assert sidecar["sources"] == [{"param": "prompt.image", "source": staged["s3_uri"]}]
    assert sidecar["prompt"] == "The leaves sway"
    assert sidecar["airflow"]["dag_id"] == "s3_pipeline"
    assert Image.open(io.BytesIO(read(s3, entry["contact_sheet_s3_uri"]))).format == "PNG"
    last = Image.open(io.BytesIO(read(s3, archived["last_frame_s3_uri"])))
    assert last.format == "PNG"
    assert last.size == (video.width, video.height)

    # The archive's asset event is in the metadata database, for DAGs scheduled on new videos.
    with create_session() as session:
        extras = session.scalars(
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "ai_gateway_videos")
        ).all()
    assert entry["s3_uri"] in [extra.get("s3_uri") for extra in extras]
