"""KlingAI: motion brush.

A dynamic mask marks what moves and a trajectory says where it goes: the white disc of
``landscape_sun_mask.png`` covers the sun of ``landscape.png`` (both 1280x720, as masks must match
the image's aspect ratio), and its path sinks the sun towards the ridge. Trajectory points are
pixels from the image's **bottom-left** corner; a 5 s video takes 2 to 77 of them. A
``static_mask`` could also pin areas that must not move (all masks must then share one
resolution). Motion brush cannot be combined with first/last frame or camera control. Submit (the
local files go as they are), wait, archive.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import KlingSubmitOperator
from airflow_video_gen.sensors.generation import KlingGenerationSensor

DAG_ID = "example_kling_motion_brush"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")

# The sun's centre is at (945, 535) from the bottom-left corner; it sinks to just above the ridge.
SUNSET = [{"x": 945, "y": 535}, {"x": 955, "y": 500}, {"x": 965, "y": 465}, {"x": 975, "y": 430}]

with DAG(
    dag_id=DAG_ID,
    description="KlingAI: a mask and a trajectory move the sun",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    submit = KlingSubmitOperator(
        task_id="submit",
        model="klingai/kling-v2.6-i2v",
        image=str(SAMPLES / "landscape.png"),
        text="The sun slowly sets behind the mountains",
        duration=5,
        mode="std",
        dynamic_masks=[{"mask": str(SAMPLES / "landscape_sun_mask.png"), "trajectories": SUNSET}],
    )
    wait = KlingGenerationSensor(task_id="wait", submission=submit.output)
    ArchiveVideoOperator(
        task_id="archive", generation=wait.output, dest_s3_uri=f"s3://{BUCKET}/examples/{DAG_ID}/"
    )
