"""KlingAI: speech with voices.

``sound="on"`` generates audio and ``voice_list`` (up to 2 voice ids, from KlingAI's voice
customization API or its preset voices) gives the speakers; ``<<<voice_1>>>`` in the prompt names
the first voice of the list. The seed's table says voices need v3.0+, its voice example uses
v2.6: both are accepted. The portrait keeps its shape with ``aspect_ratio="9:16"``. Submit (the
local file goes as it is), wait, archive.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import KlingSubmitOperator
from airflow_video_gen.sensors.generation import KlingGenerationSensor

DAG_ID = "example_kling_voices"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")
VOICE_ID = "your_voice_id"  # a KlingAI preset voice id, or one of your own

with DAG(
    dag_id=DAG_ID,
    description="KlingAI v2.6: a person speaks with a chosen voice",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    submit = KlingSubmitOperator(
        task_id="submit",
        model="klingai/kling-v2.6-i2v",
        image=str(SAMPLES / "portrait.png"),
        text='The person<<<voice_1>>> says: "Hello, welcome to my channel"',
        aspect_ratio="9:16",
        duration=5,
        mode="std",
        sound="on",
        voice_list=[{"voiceId": VOICE_ID}],
    )
    wait = KlingGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
