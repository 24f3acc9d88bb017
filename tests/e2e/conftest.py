"""Fixtures of the end-to-end tests. The ``emulator`` the ``ai_gateway_default`` connection points
at is in ``tests/conftest.py`` (shared with the S3 tests, so one process runs one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from tests.conftest import API_KEY, point_connection_at  # noqa: F401  (API_KEY: shared with the tests)


@pytest.fixture
def faulty_emulator(airflow_home: Path, request: pytest.FixtureRequest) -> Iterator[EmulatorProcess]:
    """An emulator of its own for one test, with the faults the test's ``faults`` marker names."""
    marker = request.node.get_closest_marker("emulator")
    kwargs = dict(marker.kwargs) if marker else {}
    with EmulatorProcess(**kwargs) as emu:
        point_connection_at(emu, "AI_GATEWAY_FAULTY")
        yield emu
