"""KlingAI: camera control.

A ``simple`` camera move sets exactly one axis (``horizontal``, ``vertical``, ``pan``, ``tilt``,
``roll`` or ``zoom``) to a value in [-10, 10]; the others stay 0. Here ``zoom=5`` widens the field
of view: the camera pulls back from the valley. The named moves (``down_back``, ``forward_up``,
``right_turn_forward``, ``left_turn_forward``) take no config. Camera control cannot be combined
with first/last frame or motion brush. Submit (the local file goes as it is), wait, archive.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import KlingSubmitOperator
from airflow_video_gen.sensors.generation import KlingGenerationSensor

DAG_ID = "example_kling_camera_control"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")

with DAG(
    dag_id=DAG_ID,
    description="KlingAI: a simple camera move (zoom)",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    submit = KlingSubmitOperator(
        task_id="submit",
        model="klingai/kling-v2.6-i2v",
        image=str(SAMPLES / "landscape.png"),
        text="A serene mountain landscape under a low sun",
        duration=5,
        mode="std",
        camera_control={
            "type": "simple",
            "config": {"zoom": 5, "horizontal": 0, "vertical": 0, "pan": 0, "tilt": 0, "roll": 0},
        },
    )
    wait = KlingGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
