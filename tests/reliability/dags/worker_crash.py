"""A submit task whose process dies (SIGKILL, from itself) right after the billable start call
returned and before its XCom is written; Airflow retries it."""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_video_gen.operators.archive import ArchiveVideoOperator
from airflow_video_gen.operators.submit import GrokSubmitOperator
from airflow_video_gen.sensors.generation import GrokGenerationSensor

BUCKET = os.environ.get("RELIABILITY_BUCKET", "reliability-stack")
CONN = "ai_gateway_worker"


class DiesAfterStart(GrokSubmitOperator):
    """On its first try, the worker is lost between "start answered" and "XCom written"."""

    def execute(self, context: Any) -> dict[str, Any]:
        result = super().execute(context)
        if context["ti"].try_number == 1:
            self.log.info("Start returned %s; killing this task's process now", result["operation"])
            os.kill(os.getpid(), signal.SIGKILL)
        return result


with DAG(
    "reliability_worker_crash",
    schedule=None,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
) as dag:
    submit = DiesAfterStart(
        task_id="submit",
        image=os.environ.get("RELIABILITY_IMAGE_URL", "https://example.com/input.png"),
        text="A lighthouse beam sweeps the fog",
        duration=1,
        gateway_conn_id=CONN,
    )
    wait = GrokGenerationSensor(
        task_id="wait", submission=submit.output, poll_interval=1, gateway_conn_id=CONN
    )
    ArchiveVideoOperator(
        task_id="archive",
        generation=wait.output,
        dest_s3_uri=f"s3://{BUCKET}/worker-crash/",
        contact_sheet_tiles=0,
        gateway_conn_id=CONN,
    )
