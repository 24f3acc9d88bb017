"""``--latency-spread``: each job of a model takes a latency drawn from that model's range, seeded."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from airflow_video_gen.devtools.emulator.latencies import LatencyDraws, LatencySpread, LatencySpreadError
from airflow_video_gen.devtools.emulator.process import EmulatorProcess
from tests.emulator.conftest import Gateway

KLING = "klingai/kling-v2.6-i2v"
VEO = "google/veo-3.1-fast-generate-001"


def test_a_spec_is_read_and_written_back_the_same() -> None:
    spread = LatencySpread.parse(f" {KLING}=40-60 , *=5 ,seed=7")
    assert spread.ranges == {KLING: (40.0, 60.0), "*": (5.0, 5.0)}
    assert spread.seed == 7
    assert LatencySpread.parse(spread.describe()) == spread
    assert not LatencySpread.parse("")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("klingai/kling-v2.6-i2v", "expected <model or \\*>=<low>-<high> or seed=<int>"),
        ("*=60-40", "need 0 <= low <= high"),
        ("*=fast", "expected <low>-<high> in seconds, such as 40-60"),
        ("seed=x", "the seed must be an integer"),
    ],
)
def test_a_wrong_spec_says_which_item_and_why(spec: str, message: str) -> None:
    with pytest.raises(LatencySpreadError, match=message):
        LatencySpread.parse(spec)


def test_draws_stay_in_their_range_and_repeat_from_the_seed() -> None:
    draws = LatencyDraws(3.0, LatencySpread.parse(f"{KLING}=40-60,seed=1"))
    first = [draws.draw(KLING) for _ in range(200)]
    assert all(40.0 <= d <= 60.0 for d in first)
    assert max(first) - min(first) > 15.0
    assert draws.draw(VEO) == 3.0  # no range of its own and no "*": the emulator's latency
    draws.reset()
    assert [draws.draw(KLING) for _ in range(200)] == first


def test_jobs_end_within_their_models_range(
    gateway_for: Callable[[EmulatorProcess], Gateway], start_b64: str
) -> None:
    spread = f"{KLING}=1.0-1.4,*=2.0-2.4,seed=3"
    with EmulatorProcess(latency=0.1, latency_spread=spread) as process:
        gateway = gateway_for(process)
        assert (
            httpx.get(process.root_url + "/").json()["latencySpread"]
            == LatencySpread.parse(spread).describe()
        )
        image = {"type": "file", "mediaType": "image/png", "data": start_b64}
        bodies = {
            KLING: {"prompt": "spread", "n": 1, "duration": 5},
            VEO: {"prompt": "spread", "n": 1, "duration": 4},
        }
        for model in (KLING, VEO):  # rendered once: a job also waits for its render
            assert gateway.run(model, {**bodies[model], "image": image})["status"] == "completed"
        jobs = []
        for model in (KLING, VEO, KLING, VEO):
            began = time.time()
            answer = gateway.start(model, {**bodies[model], "image": image})
            assert answer.status_code == 200, answer.text
            jobs.append((model, began, answer.json()["operation"]))
        for model, began, operation in jobs:
            done = gateway.wait(model, operation)
            took = (
                done["providerMetadata"]["gateway"]["asyncJob"]["result"]["expiresAt"] / 1000 - 3600 - began
            )
            low, high = (1.0, 1.4) if model == KLING else (2.0, 2.4)
            assert low - 0.05 <= took <= high + 0.5, (model, took)
