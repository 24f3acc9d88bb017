"""Google Veo: audio, and a portrait image cropped into a 16:9 video.

A 720x1280 portrait becomes a 1280x720 landscape clip. ``resize_mode="crop"`` fills the frame and
cuts what overflows (the default, ``"pad"``, would keep the whole image between black bars), and
``generate_audio=True`` asks for an audio track. Veo takes the local file as it is (sent inline),
so nothing is staged: submit, wait in the triggerer, archive to S3.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import VeoSubmitOperator
from airflow_video_gen.sensors.generation import VeoGenerationSensor

DAG_ID = "example_veo_audio_crop"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")

with DAG(
    dag_id=DAG_ID,
    description="Veo: a portrait cropped into a 16:9 video, with audio",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    submit = VeoSubmitOperator(
        task_id="submit",
        model="google/veo-3.1-generate-001",
        image=str(SAMPLES / "portrait.png"),
        text="He looks up at the sky and smiles as a breeze ruffles his hair",
        duration=4,
        resolution="720p",  # 1280x720, 16:9
        resize_mode="crop",  # fill the frame, cut the overflow
        generate_audio=True,  # providerOptions.vertex.generateAudio
    )
    wait = VeoGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
