"""KlingAI: first and last frame.

The model animates from ``image`` (the first frame) to ``image_tail`` (the last frame): here a pink
flower fades into the same flower at dusk. First/last frame cannot be combined with camera control
or motion brush. KlingAI takes the local files as they are (the tail goes as raw base64), so
nothing is staged: submit, wait in the triggerer, archive to S3.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import KlingSubmitOperator
from airflow_video_gen.sensors.generation import KlingGenerationSensor

DAG_ID = "example_kling_first_last_frame"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")

with DAG(
    dag_id=DAG_ID,
    description="KlingAI: a transition from a first frame to a last frame",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    submit = KlingSubmitOperator(
        task_id="submit",
        model="klingai/kling-v2.6-i2v",
        image=str(SAMPLES / "flower_open.png"),
        image_tail=str(SAMPLES / "flower_dusk.png"),  # providerOptions.klingai.imageTail
        text="Smooth transition as the day fades and the petals turn pale",
        duration=5,
        aspect_ratio="1:1",
        mode="pro",
    )
    wait = KlingGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
