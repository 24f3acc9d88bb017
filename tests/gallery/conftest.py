"""One real Airflow for the gallery's tests: api-server (with the provider's plugin, loaded as any
installed provider's is), scheduler, dag-processor and triggerer; an emulator and a local S3; one
run of ``tests/gallery/dags/gallery_videos.py`` that archives two videos.

Authentication is Airflow's default, the simple auth manager, with real passwords (no
``all_admins``): ``admin`` (role admin) and ``outsider`` (role viewer, member of team ``other``).
Multi-team mode is on so that a DAG can be out of a reader's reach: ``gallery_restricted`` lives
in a bundle of team ``video``, which ``outsider`` is not in. The DAG that runs is in the default
bundle, of no team.
"""

from __future__ import annotations

import atexit
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from airflow_video_gen.devtools.local_s3 import LocalS3
from airflow_video_gen.devtools.local_stack import LocalAirflow
from tests.imaging import make_image

HERE = Path(__file__).resolve().parent
DAG_ID = "gallery_videos"
RESTRICTED_DAG_ID = "gallery_restricted"
BUCKET = "gallery"
PROMPT = "A lighthouse at dusk, the beam sweeping over the waves"
VIDEOS = 2
USERS = "admin:admin,outsider:viewer:other"


@dataclass
class Gallery:
    """The running stack and the run it made."""

    airflow: LocalAirflow
    s3: LocalS3
    run_id: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.airflow.api_port}"

    def password(self, user: str) -> str:
        passwords = json.loads(
            (self.airflow.home / "simple_auth_manager_passwords.json.generated").read_text()
        )
        return str(passwords[user])

    def token(self, user: str) -> str:
        """A JWT from Airflow's own login route, with the user's real password."""
        answer = httpx.post(
            f"{self.base}/auth/token",
            json={"username": user, "password": self.password(user)},
            timeout=30,
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def archive_record(self) -> dict[str, Any]:
        (record,) = self.airflow.xcoms(DAG_ID, self.run_id, "archive")
        return dict(record)


def _bundles(restricted: Path) -> str:
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    return json.dumps(
        [
            {"name": "dags-folder", "classpath": local, "kwargs": {}},
            {
                "name": "restricted",
                "classpath": local,
                "kwargs": {"path": str(restricted)},
                "team_name": "video",
            },
        ]
    )


# Package scope: the stack stops once the tests of this package are done (their xdist group runs
# them together) instead of idling, and taking CPU, until the worker's last test.
@pytest.fixture(scope="package")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gallery]:
    home = tmp_path_factory.mktemp("gallery")
    image = home / "lighthouse.png"
    image.write_bytes(make_image(640, 360, color="midnightblue"))
    with EmulatorProcess(latency=1.0) as emulator, LocalS3(subprocess=True) as s3:
        s3.create_bucket(BUCKET)
        env = {
            "AIRFLOW_CONN_AI_GATEWAY_DEFAULT": emulator.connection_json(timeout=10),
            "AIRFLOW_CONN_AWS_DEFAULT": s3.connection_json(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
            "AIRFLOW__CORE__MULTI_TEAM": "True",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": _bundles(HERE / "restricted_dags"),
            "GALLERY_BUCKET": BUCKET,
            "GALLERY_IMAGE_PATH": str(image),
        }
        airflow = LocalAirflow(
            home / "airflow",
            HERE / "dags",
            env=env,
            quick_tasks=True,
            prepare=[["teams", "create", "video"], ["teams", "create", "other"]],
        )
        # Its components run in sessions of their own: stop them even if the session is cut short.
        atexit.register(airflow.stop)
        with airflow:
            run_id = airflow.trigger(DAG_ID)
            state = airflow.wait_for_run(DAG_ID, run_id, timeout=240, poll=1)
            assert state == "success", airflow.task_states(DAG_ID, run_id)
            airflow.wait_for_dag(RESTRICTED_DAG_ID)
            yield Gallery(airflow, s3, run_id)
