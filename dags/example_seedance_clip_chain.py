"""ByteDance Seedance: a longer video from chained clips.

``return_last_frame=True`` makes each generation also return its last frame, which the archive
task stores next to the video (``last_frame_s3_uri`` in its XCom). Clip 1 starts from a staged
image; clip 2 starts from clip 1's last frame and clip 3 from clip 2's, so the cuts are seamless.
``JoinVideosOperator`` then joins the three clips into one MP4 without re-encoding and uploads it
next to them. Seedance takes image URLs only: the submit operators presign the ``s3://`` URIs.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.join import JoinVideosOperator
from airflow_video_gen.operators.staging import StageImageOperator
from airflow_video_gen.operators.submit import SeedanceSubmitOperator
from airflow_video_gen.sensors.generation import SeedanceGenerationSensor

DAG_ID = "example_seedance_clip_chain"
SAMPLES = Path(__file__).parent / "sample_images"
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")
MODEL = "bytedance/seedance-v1.0-pro-fast"
DEST = f"s3://{BUCKET}/examples/{DAG_ID}/"
SHOTS = [
    "Dawn breaks over the mountains, the camera drifts forward",
    "The sun climbs higher as the camera keeps moving in",
    "The valley glows in full daylight",
]

with DAG(
    dag_id=DAG_ID,
    description="Seedance: three clips, each starting from the last frame of the one before, joined",
    doc_md=__doc__,
    schedule=None,
    tags=["airflow-video-gen", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
) as dag:
    stage = StageImageOperator(
        task_id="stage",
        image=str(SAMPLES / "landscape.png"),
        dest_s3_uri=f"s3://{BUCKET}/staging/",
        model=MODEL,
    )
    start = stage.output["s3_uri"]
    clips = []
    for number, text in enumerate(SHOTS, start=1):
        submit = SeedanceSubmitOperator(
            task_id=f"submit_{number}",
            model=MODEL,
            image=start,
            text=text,
            duration=3,
            return_last_frame=True,  # providerOptions.bytedance.returnLastFrame
        )
        wait = SeedanceGenerationSensor(task_id=f"wait_{number}", submission=submit.output)
        # multiple_outputs: each key of the result is its own XCom, so the next clip can start from
        # archive.output["last_frame_s3_uri"].
        archive = ArchiveVideoOperator(
            task_id=f"archive_{number}", generation=wait.output, dest_s3_uri=DEST, multiple_outputs=True
        )
        clips.append(archive.output)
        start = archive.output["last_frame_s3_uri"]
    JoinVideosOperator(task_id="join", videos=clips, dest_s3_uri=DEST)
