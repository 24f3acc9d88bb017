"""Every image under a prefix, through every chosen model: stage, submit, wait (deferred), archive.

Trigger it from the UI with your own ``source`` (a local folder or an ``s3://`` prefix), ``models``
and ``prompt``. Images x models are mapped with dynamic task mapping, so 20 images and 3 models make
60 generations; while they render, no worker slot is held (the sensors wait in the triggerer).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param, task

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.staging import StageImageOperator
from airflow_video_gen.operators.submit import GatewaySubmitOperator
from airflow_video_gen.sensors.generation import VideoGenerationSensor

SAMPLES = str(Path(__file__).parent / "sample_images")
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

with DAG(
    dag_id="image_to_video_pipeline",
    description="Images under a prefix x models -> videos in S3, with provenance",
    schedule=None,
    catchup=False,
    max_active_tasks=32,
    render_template_as_native_obj=True,
    # Safe to retry: a retried submit gets its generation back (idempotency key), status reads
    # repeat, archive skips what is already stored.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    tags=["airflow-video-gen", "flagship"],
    params={
        "source": Param(SAMPLES, type="string", description="Local folder or s3://bucket/prefix/ of images"),
        "models": Param(
            ["bytedance/seedance-v1.0-pro-fast", "klingai/kling-v2.6-i2v"],
            type="array",
            description="Gateway model ids; every image is animated by every model",
        ),
        "prompt": Param("Gentle camera push-in, the scene comes alive", type="string"),
        "duration": Param(
            None, type=["null", "integer"], description="Seconds; empty for each model's default"
        ),
        "staging": Param(f"s3://{BUCKET}/staging/", type="string"),
        "archive": Param(f"s3://{BUCKET}/videos/", type="string"),
        "pattern": Param("", type="string", description="Only image names containing this text"),
    },
) as dag:

    @task
    def plan(params: dict | None = None) -> list[dict[str, str]]:
        """One entry per (image, model): the source image and the model to animate it with."""
        assert params is not None
        source, pattern = str(params["source"]), str(params.get("pattern") or "")
        if source.startswith("s3://"):
            from airflow_video_gen.utils.s3 import parse_s3_uri, s3_hook

            bucket, prefix = parse_s3_uri(source, key_required=False)
            keys = s3_hook("aws_default").list_keys(bucket_name=bucket, prefix=prefix) or []
            images = [f"s3://{bucket}/{k}" for k in keys if k.lower().endswith(IMAGE_SUFFIXES)]
        else:
            images = [str(p) for p in sorted(Path(source).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        images = [i for i in images if pattern in i.rsplit("/", 1)[-1] and "mask" not in i]
        if not images:
            raise ValueError(f"no images under {source!r}")
        return [{"image": image, "model": model} for image in images for model in params["models"]]

    pairs = plan()

    staged = StageImageOperator.partial(
        task_id="stage", dest_s3_uri="{{ params.staging }}", fix=True
    ).expand_kwargs(pairs)

    submitted = GatewaySubmitOperator.partial(
        task_id="submit",
        text="{{ params.prompt }}",
        duration="{{ params.duration }}",
    ).expand_kwargs(staged.output.zip(pairs).map(lambda s: {"image": s[0]["s3_uri"], "model": s[1]["model"]}))

    generated = VideoGenerationSensor.partial(task_id="wait", poll_interval=2).expand(
        submission=submitted.output
    )

    ArchiveVideoOperator.partial(task_id="archive", dest_s3_uri="{{ params.archive }}").expand(
        generation=generated.output
    )
