"""Fixtures shared by every test.

Airflow reads its configuration when first imported, so each test process (each xdist worker) gets
its own ``AIRFLOW_HOME`` with a SQLite database and a DAGs folder before anything imports Airflow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix=f"avg-airflow-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_HOME / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES"] = "airflow.* airflow_video_gen.*"
(_HOME / "dags").mkdir()

import pytest  # noqa: E402

from tests.imaging import make_image  # noqa: E402


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    return make_image()


@pytest.fixture(scope="session")
def jpeg_bytes() -> bytes:
    return make_image(fmt="JPEG")


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """This process's ``AIRFLOW_HOME``, with the metadata database migrated."""
    from tests.airflow_harness import migrate_db

    migrate_db()
    return _HOME
