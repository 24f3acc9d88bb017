"""Each benchmark still runs, at tiny sizes (the figures are not checked, only that they come out).

The full runs are ``make bench`` (``python -m benchmarks``). Two of these tests start a local
Airflow (about a minute each on two cores) and one a fresh interpreter per way: they are marked
``bench`` and left out of ``make test`` (``make bench-smoke`` runs them all); the others take
seconds and run with every ``make test``.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.__main__ import PLANS

pytestmark = pytest.mark.slow


def quick(name: str) -> dict[str, Any]:
    return dict(PLANS[name][1])


def test_request_building() -> None:
    from benchmarks.request_building import run

    out = run(**quick("request_building"))
    assert set(out["results"]) == {"baseline", "body", "wire"}
    assert all(r["peak_bytes"] > 0 for r in out["results"].values())
    assert "baseline" in out["table"]


@pytest.mark.bench
def test_trigger_cold_start() -> None:
    """Ten seconds of fresh interpreters; ``tests/e2e/test_trigger_imports.py`` checks the same
    imports with every ``make test``."""
    from benchmarks.trigger_cold_start import WAYS, run

    out = run(**quick("trigger_cold_start"))
    assert set(out["figures"]) == set(WAYS)
    assert all(f["completed"] == 2 for f in out["figures"].values())
    assert "on the loop" in out["table"]


def test_archive_memory() -> None:
    from benchmarks.archive_memory import run

    out = run(**quick("archive_memory"))
    (reports,) = out["results"].values()
    assert {r["bytes"] for r in reports.values()} == {16 * 1024 * 1024}
    assert out["within_target"]


def test_triggerer_scale_in_one_loop() -> None:
    from benchmarks.triggerer_scale import VARIANTS, run

    out = run(**{**quick("triggerer_scale"), "real": 0})
    results = {r["variant"]: r for r in out["in_loop"]}
    assert set(results) == {v.key for v in VARIANTS}
    for result in results.values():
        assert result["completed"] == result["n"], result
        assert result["calls_p50"] >= 1
        assert result["in_flight_peak"] >= 1
    assert results["aiohttp_shared"]["cold"]["completed"] == 1  # its warm-up ran first
    assert "real" not in out


@pytest.mark.bench
def test_triggerer_scale_in_a_real_triggerer() -> None:
    from benchmarks.triggerer_scale import run

    out = run(**{**quick("triggerer_scale"), "sizes": ()})
    real = out["real"]
    assert real["deferred"] == real["n"], real
    assert real["triggerer_peak_mib"] > 0
    assert "real `airflow triggerer`" in out["table"]


@pytest.mark.bench
def test_pipeline_overhead() -> None:
    from benchmarks.pipeline_overhead import run

    out = run(**quick("pipeline_overhead"))
    assert out["state"] == "success", out["table"]
    assert out["succeeded"] == out["task_instances"]
    assert out["max_deferred"] >= 1
