"""Grok Imagine Video: an aspect ratio and a resolution.

Grok keeps the input image's aspect ratio unless ``aspect_ratio`` overrides it; here a 16:9 city
at night becomes a square video. On ``GrokSubmitOperator``, ``resolution`` is
``providerOptions.xai.resolution``: ``"480p"`` (the default) or ``"720p"``. Grok takes image URLs
only, so the image is staged to a fixed S3 key first (the request stays literal and is checked
when the DAG is parsed). Stage, submit, wait in the triggerer, archive to S3.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.staging import StageImageOperator
from airflow_video_gen.operators.submit import GrokSubmitOperator
from airflow_video_gen.sensors.generation import GrokGenerationSensor

DAG_ID = "example_grok_aspect_ratio"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")
MODEL = "xai/grok-imagine-video"
CITY = f"s3://{BUCKET}/staging/{DAG_ID}/city_night.png"

with DAG(
    dag_id=DAG_ID,
    description="Grok: a 16:9 image animated into a square 720p video",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    stage = StageImageOperator(
        task_id="stage", image=str(SAMPLES / "city_night.png"), dest_s3_uri=CITY, model=MODEL
    )
    submit = GrokSubmitOperator(
        task_id="submit",
        model=MODEL,
        image=CITY,
        text="City lights flicker as clouds drift past",
        duration=3,
        aspect_ratio="1:1",
        resolution="720p",  # providerOptions.xai.resolution
    )
    wait = GrokGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
    stage >> submit  # the request names the staged object, so stage first
