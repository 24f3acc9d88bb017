"""ByteDance Seedance: first and last frame.

``image`` is the first frame and ``last_frame_image`` the last; the model transitions between the
two (Seedance v1.5 Pro, v1.0 Pro and v1.0 Lite I2V). Seedance takes image URLs only, so both
images are staged to fixed S3 keys first (the request stays literal and is checked when the DAG is
parsed). Stage, submit, wait in the triggerer, archive to S3.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.staging import StageImageOperator
from airflow_video_gen.operators.submit import SeedanceSubmitOperator
from airflow_video_gen.sensors.generation import SeedanceGenerationSensor

DAG_ID = "example_seedance_first_last_frame"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")
MODEL = "bytedance/seedance-v1.0-pro"
FIRST = f"s3://{BUCKET}/staging/{DAG_ID}/flower_open.png"
LAST = f"s3://{BUCKET}/staging/{DAG_ID}/flower_dusk.png"

with DAG(
    dag_id=DAG_ID,
    description="Seedance: a transition from a first frame to a last frame",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    stage = [
        StageImageOperator(
            task_id=f"stage_{name}", image=str(SAMPLES / f"{name}.png"), dest_s3_uri=uri, model=MODEL
        )
        for name, uri in (("flower_open", FIRST), ("flower_dusk", LAST))
    ]
    submit = SeedanceSubmitOperator(
        task_id="submit",
        model=MODEL,
        image=FIRST,
        last_frame_image=LAST,  # providerOptions.bytedance.lastFrameImage
        text="The flower closes slowly as dusk falls",
        aspect_ratio="1:1",
        duration=3,
    )
    wait = SeedanceGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
    stage >> submit  # the request names the staged object, so stage first
