"""KlingAI: a multi-shot storyboard.

``kling-v3.0-i2v`` turns one start frame into several shots, each with its own prompt:
``multi_shot=True`` with ``multi_prompt`` (shots numbered from 1, each ``duration`` a string of
seconds) and ``shot_type="customize"`` to use those durations. The shots here add up to the clip's
``duration`` (2 + 2 + 2 = 6 s); when they do not, the task log warns. Submit (the local file goes
as it is), wait, archive.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import KlingSubmitOperator
from airflow_video_gen.sensors.generation import KlingGenerationSensor

DAG_ID = "example_kling_multi_shot"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")

with DAG(
    dag_id=DAG_ID,
    description="KlingAI v3.0: three shots from one start frame",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    submit = KlingSubmitOperator(
        task_id="submit",
        model="klingai/kling-v3.0-i2v",
        image=str(SAMPLES / "city_night.png"),
        text="A city at night",
        aspect_ratio="16:9",
        duration=6,
        mode="pro",
        multi_shot=True,
        shot_type="customize",
        multi_prompt=[
            {"index": 1, "prompt": "Windows light up one by one across the skyline.", "duration": "2"},
            {"index": 2, "prompt": "The camera glides along the tallest tower.", "duration": "2"},
            {"index": 3, "prompt": "Stars twinkle above the rooftops.", "duration": "2"},
        ],
    )
    wait = KlingGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
