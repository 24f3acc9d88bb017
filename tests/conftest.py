"""Fixtures shared by every test.

Airflow reads its configuration when first imported, so each test process (each xdist worker) gets
its own ``AIRFLOW_HOME`` with a SQLite database and a DAGs folder before anything imports Airflow.
Tests that run DAGs (``dag.test()``, a local Airflow on free ports) therefore need no xdist group
and spread over the workers. A group (``xdist_group``) is for tests that share what two processes
cannot both have: the fixed ports of the docs' shell samples (``airflow``), a stack started once
per process for several tests (``reliability``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

_HOME = Path(tempfile.mkdtemp(prefix=f"avg-airflow-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_HOME / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES"] = "airflow.* airflow_video_gen.*"
(_HOME / "dags").mkdir()

import shutil  # noqa: E402
from collections.abc import Callable  # noqa: E402

import pytest  # noqa: E402

from tests.airflow_harness import SHARED_DIR_ENV  # noqa: E402
from tests.imaging import make_image  # noqa: E402
from tests.media import FIXTURE_IMAGES, ImageHost, Mp4, read_mp4  # noqa: E402

if TYPE_CHECKING:
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess

API_KEY = "sk-e2e-test-key-0123456789"

# The folder the processes of this run share (the migrated database of ``tests.airflow_harness``):
# made by the process pytest starts, before it starts any xdist worker, and removed when it ends.
_SHARED_DIR = None if os.environ.get(SHARED_DIR_ENV) else tempfile.mkdtemp(prefix="avg-tests-")
if _SHARED_DIR:
    os.environ[SHARED_DIR_ENV] = _SHARED_DIR


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SHARED_DIR:
        shutil.rmtree(_SHARED_DIR, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the longest tests first: those with a ``timeout`` marker, longest first, then the
    ``slow`` ones, then the rest (otherwise in collection order). xdist hands out the tests of no
    group in this order, so a long test starts early instead of ending alone after all the others."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return

    def rank(item: pytest.Item) -> tuple[float, bool]:
        timeout = item.get_closest_marker("timeout")
        seconds = float(timeout.args[0]) if timeout is not None and timeout.args else 0.0
        return (-seconds, item.get_closest_marker("slow") is None)

    items.sort(key=rank)


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


def point_connection_at(emulator: EmulatorProcess, conn_id: str = "AI_GATEWAY_DEFAULT", **extra: Any) -> str:
    """Point the ``AIRFLOW_CONN_<conn_id>`` connection at an emulator (extras: ``timeout`` 10 s
    unless given); returns the connection id."""
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = emulator.connection_json(
        API_KEY, **{"timeout": 10, **extra}
    )
    return conn_id.lower()


@pytest.fixture(scope="session")
def emulator(airflow_home: Path) -> Iterator[EmulatorProcess]:
    """A fault-free emulator shared by the Airflow tests of this process (end to end, S3); the
    ``ai_gateway_default`` connection points at it."""
    from airflow_video_gen.devtools.emulator.process import EmulatorProcess

    with EmulatorProcess(latency=0.5) as emu:
        point_connection_at(emu)
        yield emu


@pytest.fixture(scope="session")
def image_host() -> Iterator[ImageHost]:
    """Test images on loopback: the seed fixtures, a landscape PNG, a portrait JPEG, three references."""
    files = {
        "start.png": ((FIXTURE_IMAGES / "start.png").read_bytes(), "image/png"),
        "end.png": ((FIXTURE_IMAGES / "end.png").read_bytes(), "image/png"),
        "landscape.png": (make_image(640, 360), "image/png"),
        "portrait.jpg": (make_image(360, 640, fmt="JPEG"), "image/jpeg"),
        "ref-red.png": (make_image(400, 300, color="firebrick"), "image/png"),
        "ref-green.png": (make_image(400, 300, color="seagreen"), "image/png"),
        "ref-blue.png": (make_image(400, 300, color="navy"), "image/png"),
        "not-an-image.png": (b"this is text, not an image", "image/png"),
    }
    host = ImageHost(files).start()
    yield host
    host.stop()


@pytest.fixture(scope="session")
def decode_mp4() -> Callable[..., Mp4]:
    """Decode an MP4 with PyAV (:func:`tests.media.read_mp4`): size, frame rate, frame count,
    audio, the first and last frames and any frames asked for with ``keep``."""
    return read_mp4
