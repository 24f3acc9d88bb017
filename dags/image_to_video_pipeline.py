"""Every image under a prefix, through every chosen model: stage, submit, wait (deferred), archive.

Trigger it from the UI with your own ``source`` (a local folder or an ``s3://`` prefix), ``models``
and ``prompt``. An image already animated with the same model and parameters (its video is in the
``archive`` prefix) is not paid for again: its archived video is reused, unless ``reprocess``.

Images x models (20 images and 3 models make 60 generations) are cut into batches of
``batch_size``, and the four tasks of each batch are mapped over the batches: each task does its
step for every video of its batch, several at once, and each video keeps its own record, failure,
idempotency key and retry. While the videos render, no worker slot is held (each batch waits in
the triggerer). ``batch_size=1`` is one task per video and step.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param, task, task_group

from airflow_video_gen.operators.batch import (
    BatchArchiveVideoOperator,
    BatchStageImageOperator,
    BatchSubmitOperator,
)
from airflow_video_gen.sensors.batch import BatchGenerationSensor

SAMPLES = str(Path(__file__).parent / "sample_images")
BUCKET = os.environ.get("AIRFLOW_VIDEO_GEN_BUCKET", "airflow-video-gen")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Videos per task instance by default (see docs/benchmarks.md, section 3).
BATCH_SIZE = 50

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
        "batch_size": Param(
            BATCH_SIZE,
            type="integer",
            minimum=1,
            description="Videos per task instance (1: one task per video and step)",
        ),
        "reprocess": Param(
            False,
            type="boolean",
            description="Generate again even where the archive already has this request's video (billed)",
        ),
    },
) as dag:

    @task
    def plan(params: dict | None = None) -> list[list[dict[str, str]]]:
        """The (image, model) pairs to animate, in batches of ``batch_size``."""
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
        pairs = [{"image": image, "model": model} for image in images for model in params["models"]]
        size = int(params["batch_size"])
        return [pairs[i : i + size] for i in range(0, len(pairs), size)]

    # The four tasks of a batch run as soon as the one before them in the same batch is done.
    @task_group(group_id="batch", prefix_group_id=False)
    def animate(batch: list[dict[str, str]]) -> None:
        staged = BatchStageImageOperator(
            task_id="stage", images=batch, dest_s3_uri="{{ params.staging }}", fix=True
        )
        submitted = BatchSubmitOperator(
            task_id="submit",
            requests=staged.output,
            text="{{ params.prompt }}",
            duration="{{ params.duration }}",
            # An image x model x prompt already archived is not paid for again, unless reprocess is set.
            skip_if_archived="{{ '' if params.reprocess else params.archive }}",
        )
        generated = BatchGenerationSensor(task_id="wait", submissions=submitted.output, poll_interval=2)
        BatchArchiveVideoOperator(
            task_id="archive", generations=generated.output, dest_s3_uri="{{ params.archive }}"
        )

    animate.expand(batch=plan())
