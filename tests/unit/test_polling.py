"""The polling schedule: when a wait calls status, what it learns of each model, and the priors
the families declare. Pure: the clock and the random draws are the test's."""

from __future__ import annotations

import heapq
import json
import random
import statistics

import pytest

from airflow_video_gen.families import KLING, VEO
from airflow_video_gen.families.base import DEFAULT_LATENCY
from airflow_video_gen.polling import (
    BATCH,
    JITTER,
    QUEUED_REMAINING,
    SPARSE_SPACING,
    Estimates,
    Schedule,
    expected_seconds,
)

T0 = 1_000_000.0
#: A draw of 0.5 is no jitter.
MID = 0.5


def schedule(prior: float = 60.0, interval: float = 5.0, **kwargs: object) -> Schedule:
    kwargs.setdefault("estimates", Estimates())
    return Schedule("klingai/kling-v2.6-i2v", T0, interval, prior, **kwargs)  # type: ignore[arg-type]


def calls_until(sched: Schedule, done_at: float, began: float = 1.0) -> list[float]:
    """The seconds after the start of every call a wait that began at ``began`` (right after a
    status read) makes for a video done at ``done_at``, no jitter."""
    at = sched.next_call(T0 + began, MID)
    calls = []
    while True:
        calls.append(round(at - T0, 6))
        if at - T0 >= done_at:
            sched.completed(at)
            return calls
        sched.pending(at, "running")
        at = sched.next_call(at, MID)


# ------------------------------------------------------------------------------- priors


def test_the_prior_follows_the_models_duration_and_resolution() -> None:
    assert expected_seconds("klingai/kling-v2.6-i2v") == 60.0  # 30 + 6 x 5 s (its default duration)
    assert expected_seconds("klingai/kling-v2.6-i2v", {"duration": 10}) == 90.0
    assert expected_seconds("klingai/kling-v2.5-turbo-i2v", {"duration": 5}) == 40.0
    assert expected_seconds("google/veo-3.1-generate-001", {"duration": 8}) == 60.0
    assert expected_seconds(
        "google/veo-3.1-generate-001", {"duration": 8, "resolution": "1080p"}
    ) == pytest.approx(84.0)
    assert expected_seconds("google/veo-3.1-fast-generate-001", {"duration": 4}) == 22.0


def test_the_prior_reads_the_output_resolution_option_of_a_family_that_has_one() -> None:
    request = {"duration": 5, "providerOptions": {"xai": {"resolution": "720p"}}}
    assert expected_seconds("xai/grok-imagine-video", request) == pytest.approx(35.0)
    assert expected_seconds("xai/grok-imagine-video", {"duration": 5}) == 25.0


def test_a_model_of_no_family_and_a_request_without_duration_take_the_defaults() -> None:
    assert expected_seconds("acme/video-1") == DEFAULT_LATENCY.minimum(5.0)
    assert expected_seconds("klingai/kling-v9-i2v", {"duration": "x"}) == KLING.latency.minimum(5.0)


def test_families_declare_their_priors_as_data() -> None:
    assert VEO.latency_of(VEO.models["google/veo-3.1-fast-generate-001"]).minimum(8) < VEO.latency.minimum(8)
    assert KLING.latency_of(KLING.models["klingai/kling-v2.6-i2v"]) is KLING.latency


# ------------------------------------------------------------------------------- the schedule


def test_a_wait_calls_at_its_expected_time_then_every_interval() -> None:
    assert calls_until(schedule(prior=40.0), done_at=52.0) == [40.0, 45.0, 50.0, 55.0]


def test_a_video_done_after_the_expected_time_is_found_within_the_interval_and_its_jitter() -> None:
    rng = random.Random(3)
    for _ in range(500):
        sched, done = schedule(), rng.uniform(60.0, 200.0)
        at, calls = sched.next_call(T0 + 1.0, rng.random()), []
        while at - T0 < done:
            calls.append(at)
            sched.pending(at)
            at = sched.next_call(at, rng.random())
        assert 0 <= at - T0 - done <= 5.0 * (1 + JITTER) + 1e-9


def test_before_a_far_expected_time_calls_are_sparse_while_the_model_is_unlearned() -> None:
    sched = schedule(prior=200.0)
    calls = calls_until(sched, done_at=201.0)
    gaps = [b - a for a, b in zip([1.0, *calls], calls, strict=False)]
    assert calls[:5] == [40.8, 80.6, 120.4, 160.2, 200.0]
    assert max(gaps[:5]) <= SPARSE_SPACING * 5.0


def test_a_fixed_wait_polls_every_interval_from_the_start() -> None:
    sched = schedule(fixed=True)
    assert sched.first_call(T0, MID) == T0
    assert calls_until(sched, done_at=12.0, began=0.0) == [5.0, 10.0, 15.0]


def test_a_wait_that_begins_past_its_expected_time_calls_at_once() -> None:
    sched = schedule(prior=30.0)
    assert sched.first_call(T0 + 45.0, MID) == T0 + 45.0
    assert sched.first_call(T0 + 10.0, MID) == T0 + 30.0


def test_a_job_still_queued_at_its_expected_time_moves_its_own_expected_time() -> None:
    sched = schedule(prior=40.0)
    first = sched.next_call(T0 + 1.0, MID)
    sched.pending(first, "queued")
    assert sched.next_call(first, MID) - T0 == 40.0 + QUEUED_REMAINING * 40.0
    sched.pending(T0 + 60.0, "running")
    assert sched.next_call(T0 + 60.0, MID) - T0 == 65.0


# ------------------------------------------------------------------------------- learning


def _wave(estimates: Estimates, prior: float, done: list[float]) -> list[list[float]]:
    """Waits for videos done at ``done`` seconds, all planned on the estimate as it is now."""
    scheds = [Schedule("m/x", T0, 5.0, prior, estimates=estimates) for _ in done]
    for sched in scheds:
        sched.next_call(T0 + 1.0, MID)
    return [calls_until(sched, at) for sched, at in zip(scheds, done, strict=True)]


def test_a_batch_found_done_at_its_first_call_makes_the_expected_time_earlier() -> None:
    estimates = Estimates()
    _wave(estimates, prior=100.0, done=[50.0] * BATCH)
    assert estimates.factor("m/x") == (0.5, 1, False)


def test_a_batch_found_pending_moves_the_expected_time_to_where_its_videos_were_done() -> None:
    estimates = Estimates()
    done = [82.0 + i for i in range(BATCH)]
    _wave(estimates, prior=40.0, done=done)
    factor, batch, settled = estimates.factor("m/x")
    # The earliest video, done at 82 s, was found at 85 s after a pending call at 80 s: 82.5 s.
    assert (batch, settled) == (1, True)
    assert factor * 40.0 == pytest.approx(82.5)


def test_a_good_estimate_stays_and_a_wave_moves_it_once() -> None:
    estimates = Estimates()
    # 2 of 16 done by the expected time: within the allowed share, nothing moves.
    _wave(estimates, prior=60.0, done=[58.0, 59.0] + [61.0 + i for i in range(BATCH - 2)])
    assert estimates.factor("m/x") == (1.0, 1, True)
    # A thousand waits planned on one factor judge it once.
    _wave(estimates, prior=60.0, done=[30.0] * 1000)
    assert estimates.factor("m/x") == (0.5, 2, False)


def test_only_a_settled_factor_lets_a_wait_skip_the_sparse_calls() -> None:
    late, settled = Estimates(), Estimates()
    _wave(late, prior=100.0, done=[50.0] * BATCH)  # all late: earlier, and not settled
    _wave(settled, prior=100.0, done=[98.0, 99.0] + [101.0 + i for i in range(BATCH - 2)])
    assert settled.factor("m/x") == (1.0, 1, True)
    assert calls_until(Schedule("m/x", T0, 5.0, 100.0, estimates=late), 51.0) == [25.5, 50.0, 55.0]
    assert calls_until(Schedule("m/x", T0, 5.0, 100.0, estimates=settled), 101.0) == [100.0, 105.0]


def test_time_spent_queued_is_learned_as_part_of_a_models_latency() -> None:
    """Jobs queued for 40 s, then done by 50 to 65 s, with a prior of 20 s: the first waits call
    sparsely while the jobs are queued, and the factor learns where the videos are done."""
    estimates = Estimates()
    calls = []
    for i in range(BATCH):
        sched, done = Schedule("m/x", T0, 5.0, 20.0, estimates=estimates), 50.0 + i
        at, made = sched.next_call(T0 + 1.0, MID), 1
        while at - T0 < done:
            sched.pending(at, "queued" if at - T0 < 40.0 else "running")
            at, made = sched.next_call(at, MID), made + 1
        sched.completed(at)
        calls.append(made)
    # Queued at 20 s and 30 s (the expected time moves 10 s each time), then every 5 s from 40 s.
    assert calls[0] == 5  # 20, 30, 40, 45, 50
    factor, batch, settled = estimates.factor("m/x")
    assert (batch, settled) == (1, True)
    assert factor * 20.0 == pytest.approx(47.5)  # the first video: pending at 45 s, done at 50 s


def test_a_wait_that_began_past_its_expected_time_or_was_fixed_judges_nothing() -> None:
    estimates = Estimates()
    for _ in range(BATCH):
        late = Schedule("m/x", T0, 5.0, 30.0, estimates=estimates)
        late.pending(T0 + 40.0)
        late.completed(T0 + 45.0)
        fixed = Schedule("m/x", T0, 5.0, 30.0, fixed=True, estimates=estimates)
        calls_until(fixed, 10.0)
    assert estimates.factor("m/x") == (1.0, 0, False)


def test_the_estimates_are_bounded() -> None:
    estimates = Estimates(max_models=2)
    for model in ("a/1", "b/1", "c/1"):
        estimates.judge(model, 0, late=True)
    assert estimates.factor("a/1") == (1.0, 0, False)
    assert len(estimates._models) == 2


def test_learned_waits_call_a_few_times_per_video_and_find_it_soon_after() -> None:
    """2,000 generations started ten a second, each done 40 to 60 s after its start, with a prior
    of 34 s: once the first minute's waits have been judged, a video costs at most 4 calls at the
    median and 6 at the 99th percentile (against 9 to 13 at a call every 5 s), and 99 % are found
    within the interval and a second of being done."""
    rng, estimates = random.Random(7), Estimates()
    done = [rng.uniform(40.0, 60.0) for _ in range(2000)]
    waits = [Schedule("m/x", T0 + i / 10, 5.0, 34.0, estimates=estimates) for i in range(len(done))]
    # Each wait begins (plans its first call) a second after its start; every event in time order.
    queue = [(w.started_at + 1.0, i, True) for i, w in enumerate(waits)]
    calls, lags = [0] * len(done), [0.0] * len(done)
    while queue:
        at, i, begins = heapq.heappop(queue)
        wait = waits[i]
        if begins:
            heapq.heappush(queue, (wait.next_call(at, rng.random()), i, False))
            continue
        calls[i] += 1
        if at - wait.started_at >= done[i]:
            wait.completed(at)
            lags[i] = at - wait.started_at - done[i]
            continue
        wait.pending(at, "running")
        heapq.heappush(queue, (wait.next_call(at, rng.random()), i, False))
    warm_calls, warm_lags = sorted(calls[600:]), sorted(lags[600:])
    assert statistics.median(warm_calls) <= 4
    assert warm_calls[int(0.99 * len(warm_calls))] <= 6
    assert warm_lags[int(0.99 * len(warm_lags))] <= 5.0 + 1.0


# ------------------------------------------------------------------------------- what a deferral stores


def _submission(**options: object) -> dict[str, object]:
    return {
        "model": "klingai/kling-v2.6-i2v",
        "family": "kling",
        "operation": {"gatewayJobId": "job_1"},
        "submitted_at": T0,
        "request": {"duration": 10, "providerOptions": {"klingai": dict(options)}},
    }


def test_a_deferral_carries_the_prior_of_its_request_and_whether_its_interval_was_asked() -> None:
    from airflow_video_gen.triggers.generation import VideoGenerationTrigger
    from airflow_video_gen.waiting import wait_kwargs

    kwargs = wait_kwargs(_submission(), deadline=T0 + 600, poll_interval=5.0, gateway_conn_id="gw")
    assert (kwargs["expected"], kwargs["fixed_interval"]) == (90.0, False)
    asked = wait_kwargs(
        _submission(pollIntervalMs=2000), deadline=T0 + 600, poll_interval=2.0, gateway_conn_id="gw"
    )
    assert asked["fixed_interval"] is True
    # The trigger row: a few hundred bytes, the connection's id and never its key.
    _, stored = VideoGenerationTrigger(**kwargs).serialize()
    assert stored["expected"] == 90.0
    assert len(json.dumps(stored)) < 400
    assert set(stored) >= {"gateway_conn_id", "expected", "fixed_interval"}
    assert not any(key in stored for key in ("api_key", "password", "config"))


def test_a_trigger_made_without_a_prior_takes_its_models() -> None:
    from airflow_video_gen.triggers.generation import VideoGenerationTrigger

    trigger = VideoGenerationTrigger(
        model="klingai/kling-v2.6-i2v", operation={"gatewayJobId": "j"}, deadline=T0
    )
    # Taken when the trigger is serialized (in the worker that defers), not when it is made: a
    # triggerer makes triggers on its event loop, and the model's data are not imported there.
    assert trigger.expected is None
    assert trigger.serialize()[1]["expected"] == 60.0
    assert trigger.expected == 60.0
    assert trigger.fixed_interval is False
