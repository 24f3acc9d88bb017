"""ByteDance Seedance: multi-reference images.

``seedance-v1.0-lite-i2v`` takes 1 to 4 ``reference_images`` that show the model what things
look like; the prompt is plain text naming them ``[Image 1]``, ``[Image 2]``... and there is no
start image: the video is a new scene. References are URLs, so the three images are staged to
fixed S3 keys first (the request stays literal and is checked when the DAG is parsed). Stage,
submit, wait in the triggerer, archive to S3.
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

DAG_ID = "example_seedance_multi_reference"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")
MODEL = "bytedance/seedance-v1.0-lite-i2v"
REFERENCES = {
    name: f"s3://{BUCKET}/staging/{DAG_ID}/{name}.png" for name in ("cat", "city_night", "landscape")
}

with DAG(
    dag_id=DAG_ID,
    description="Seedance Lite: a new scene from three reference images",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    stage = [
        StageImageOperator(
            task_id=f"stage_{name}", image=str(SAMPLES / f"{name}.png"), dest_s3_uri=uri, model=MODEL
        )
        for name, uri in REFERENCES.items()
    ]
    submit = SeedanceSubmitOperator(
        task_id="submit",
        model=MODEL,
        text=(
            "The cat from [Image 1] strolls through the night city of [Image 2] towards the mountains "
            "of [Image 3], in flat illustration style"
        ),
        reference_images=list(REFERENCES.values()),  # providerOptions.bytedance.referenceImages
        aspect_ratio="16:9",
        resolution="1280x720",
        duration=3,
    )
    wait = SeedanceGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
    stage >> submit  # the request names the staged object, so stage first
