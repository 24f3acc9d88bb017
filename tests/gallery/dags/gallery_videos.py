"""One generation of two videos, waited for in the triggerer and archived: what the gallery shows."""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import VeoSubmitOperator
from airflow_video_gen.sensors.generation import VeoGenerationSensor

BUCKET = os.environ.get("GALLERY_BUCKET", "gallery")
IMAGE = os.environ.get("GALLERY_IMAGE_PATH", "/nonexistent.png")

with DAG("gallery_videos", schedule=None, default_args={"retries": 0}) as dag:
    submit = VeoSubmitOperator(
        task_id="submit",
        model="google/veo-3.1-fast-generate-001",
        image=IMAGE,
        text="A lighthouse at dusk, the beam sweeping over the waves",
        duration=4,
        n=2,
    )
    wait = VeoGenerationSensor(task_id="wait", submission=submit.output, poll_interval=1)
    ArchiveVideoOperator(task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/videos/")
