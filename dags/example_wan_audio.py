"""Wan: a video with audio.

Wan takes image URLs only, so the image is staged first: checked against the model's rules and
stored in S3 at a fixed key, which the submit operator presigns. The request is then all literal
and checked when the DAG is parsed. Wan requires ``text``; ``audio=True`` turns audio on (the
flash model's default is off, the standard model's on); ``resolution`` is ``"1280x720"`` or
``"1920x1080"``. Stage, submit, wait in the triggerer, archive to S3.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.staging import StageImageOperator
from airflow_video_gen.operators.submit import WanSubmitOperator
from airflow_video_gen.sensors.generation import WanGenerationSensor

DAG_ID = "example_wan_audio"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")
MODEL = "alibaba/wan-v2.6-i2v-flash"
CAT = f"s3://{BUCKET}/staging/{DAG_ID}/cat.png"

with DAG(
    dag_id=DAG_ID,
    description="Wan: a staged image animated with audio at 1280x720",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    stage = StageImageOperator(task_id="stage", image=str(SAMPLES / "cat.png"), dest_s3_uri=CAT, model=MODEL)
    submit = WanSubmitOperator(
        task_id="submit",
        model=MODEL,
        image=CAT,
        text="The cat waves hello and meows",
        resolution="1280x720",
        duration=3,
        audio=True,  # providerOptions.alibaba.audio
    )
    wait = WanGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
    stage >> submit  # the request names the staged object, so stage first
