"""Twenty generations, mapped over submit, sensor and archive. The reliability suite kills the
triggerer with SIGKILL while every sensor is deferred, then starts it again."""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import GrokSubmitOperator
from airflow_video_gen.sensors.generation import GrokGenerationSensor

COUNT = 20
BUCKET = os.environ.get("RELIABILITY_BUCKET", "reliability-stack")
CONN = "ai_gateway_crash"

with DAG(
    "reliability_triggerer_crash",
    schedule=None,
    max_active_tasks=64,
    # Safe to retry: a retried submit re-attaches through its idempotency key, status reads repeat,
    # archive leaves stored objects alone. The test counts every retry it sees.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
) as dag:
    submit = GrokSubmitOperator.partial(
        task_id="submit",
        image=os.environ.get("RELIABILITY_IMAGE_URL", "https://example.com/input.png"),
        duration=1,
        gateway_conn_id=CONN,
    ).expand(text=[f"Shot {i}: the street lights come on one by one" for i in range(COUNT)])
    wait = GrokGenerationSensor.partial(task_id="wait", poll_interval=2, gateway_conn_id=CONN).expand(
        submission=submit.output
    )
    ArchiveVideoOperator.partial(
        task_id="archive",
        dest_s3_uri=f"s3://{BUCKET}/triggerer-crash/",
        contact_sheet_tiles=0,
        gateway_conn_id=CONN,
    ).expand(generation=wait.output)
