"""Generations that fail, for the regeneration tests: the emulators behind ``ai_gateway_regen_clear``
and ``ai_gateway_regen_auto`` fail the first job they create and complete the next ones.

- ``reliability_regenerate_on_clear``: submit, wait, archive, no retries: a failed generation fails
  the run, and the user clears the tasks to have it again.
- ``reliability_max_regenerations``: one task that submits and waits (``max_regenerations=2``),
  then archive: the failed generation is started again inside the same try.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import KlingSubmitOperator
from airflow_video_gen.sensors.generation import KlingGenerationSensor

BUCKET = os.environ.get("RELIABILITY_BUCKET", "reliability-stack")
IMAGE = os.environ.get("RELIABILITY_IMAGE_URL", "https://example.com/input.png")

# Retries cover a task that cannot start on a busy machine; a failed generation fails its sensor
# without retry (AirflowFailException), whatever the retries.
RETRIES = {"retries": 2, "retry_delay": timedelta(seconds=1)}

with DAG("reliability_regenerate_on_clear", schedule=None, default_args=RETRIES) as on_clear:
    submit = KlingSubmitOperator(
        task_id="submit",
        image=IMAGE,
        text="Waves roll onto the shore",
        duration=5,
        gateway_conn_id="ai_gateway_regen_clear",
    )
    wait = KlingGenerationSensor(task_id="wait", submission=submit.output, poll_interval=1)
    ArchiveVideoOperator(
        task_id="archive",
        generation=wait.output,
        dest_s3_uri=f"s3://{BUCKET}/regen-clear/",
        contact_sheet_tiles=0,
    )

with DAG("reliability_max_regenerations", schedule=None, default_args=RETRIES) as automatic:
    generate = KlingSubmitOperator(
        task_id="generate",
        image=IMAGE,
        text="Waves roll onto the shore",
        duration=5,
        gateway_conn_id="ai_gateway_regen_auto",
        wait_for_completion=True,
        poll_interval=1,
        max_regenerations=2,
    )
    ArchiveVideoOperator(
        task_id="archive",
        generation=generate.output,
        dest_s3_uri=f"s3://{BUCKET}/regen-auto/",
        contact_sheet_tiles=0,
    )
