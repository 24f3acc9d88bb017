"""Waits that end on the gateway's callback: twenty generations whose callbacks come, and two
whose callbacks are lost (their emulator drops every callback), which end by polling."""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG

from airflow_video_gen.operators.submit import GrokSubmitOperator

IMAGE = os.environ.get("CALLBACK_IMAGE_URL", "https://example.com/input.png")

for dag_id, conn, count in (
    ("callback_twenty", "ai_gateway_callbacks", 20),
    ("callback_lost", "ai_gateway_callbacks_lost", 2),
):
    # Retries: on a loaded machine a task's first call to Airflow's execution API can time out
    # before the task runs at all.
    retries = {"retries": 2, "retry_delay": timedelta(seconds=1)}
    with DAG(dag_id, schedule=None, max_active_tasks=8, default_args=retries) as dag:
        GrokSubmitOperator.partial(
            task_id="generate",
            model="xai/grok-imagine-video",
            image=IMAGE,
            duration=1,
            gateway_conn_id=conn,
            wait_for_completion=True,
        ).expand(text=["The lighthouse beam sweeps the fog"] * count)
    globals()[dag_id] = dag
