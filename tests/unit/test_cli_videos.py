"""``airflow-video-gen videos`` where Airflow's metadata database is not set up: one line that says what
to do, no traceback. (Listing and downloading a real run's videos: ``tests/s3/test_videos_command.py``.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_an_airflow_home_without_a_database_is_explained(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("airflow-video-gen")), "videos", "cat_video"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == (
        "airflow-video-gen videos: cannot read Airflow's metadata database (no such table: dag_run). Run it "
        "where Airflow is configured (the AIRFLOW_HOME and [database] sql_alchemy_conn of your scheduler), "
        "after airflow db migrate"
    )
