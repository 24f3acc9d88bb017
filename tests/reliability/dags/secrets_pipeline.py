"""A full pipeline with a distinctive API key, plus the failure paths that carry gateway messages:
a job that fails, a refused key, a gateway that is down. The reliability suite then searches every
log, XCom, trigger row, rendered field and sidecar for the key."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.staging import StageImageOperator
from airflow_video_gen.operators.submit import GrokSubmitOperator, KlingSubmitOperator
from airflow_video_gen.sensors.generation import KlingGenerationSensor

BUCKET = os.environ.get("RELIABILITY_BUCKET", "reliability-stack")
IMAGE = os.environ.get("RELIABILITY_IMAGE_PATH", "/nonexistent.png")
KLING = "klingai/kling-v2.6-i2v"
CONN = "ai_gateway_secret"
_image = Path(IMAGE)
INLINE = (
    "data:image/png;base64," + base64.b64encode(_image.read_bytes()).decode() if _image.exists() else None
)

with DAG("reliability_secrets", schedule=None, default_args={"retries": 0}) as dag:
    # The whole chain: staged from a local file, submitted from S3, waited for in the triggerer,
    # archived from a base64 result (the emulator answers inline).
    stage = StageImageOperator(
        task_id="stage", image=IMAGE, model=KLING, dest_s3_uri=f"s3://{BUCKET}/secrets/in/"
    )
    submit = KlingSubmitOperator(
        task_id="submit",
        model=KLING,
        image=stage.output["s3_uri"],
        text="Waves roll in",
        gateway_conn_id=CONN,
    )
    wait = KlingGenerationSensor(
        task_id="wait", submission=submit.output, poll_interval=1, gateway_conn_id=CONN
    )
    ArchiveVideoOperator(
        task_id="archive",
        generation=wait.output,
        dest_s3_uri=f"s3://{BUCKET}/secrets/videos/",
        gateway_conn_id=CONN,
    )
    # One task, image inline as a data URL, waiting in the triggerer: no base64 may reach XCom or
    # trigger rows either way.
    KlingSubmitOperator(
        task_id="submit_inline",
        model=KLING,
        image=INLINE,
        text="The lamp flickers",
        wait_for_completion=True,
        poll_interval=1,
        gateway_conn_id=CONN,
    )
    # Failure paths, each with the gateway's or the transport's message in the task log.
    missing = KlingSubmitOperator(
        task_id="submit_missing_image",
        model=KLING,
        image=os.environ.get("RELIABILITY_MISSING_IMAGE_URL", "https://example.com/missing.png"),
        gateway_conn_id=CONN,
    )
    KlingGenerationSensor(
        task_id="wait_missing_image", submission=missing.output, poll_interval=1, gateway_conn_id=CONN
    )
    GrokSubmitOperator(
        task_id="submit_wrong_key",
        image=os.environ.get("RELIABILITY_IMAGE_URL"),
        gateway_conn_id="ai_gateway_wrong_key",
    )
    GrokSubmitOperator(
        task_id="submit_gateway_down",
        image=os.environ.get("RELIABILITY_IMAGE_URL"),
        gateway_conn_id="ai_gateway_down",
    )
