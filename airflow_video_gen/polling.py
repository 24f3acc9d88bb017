"""When a wait calls status: the schedule of one generation, and what this process has learned of
each model's latency.

A generation is not done before a typical minimum time for its model, duration and resolution
(the family's :class:`~airflow_video_gen.families.base.Latency`: the *prior*), so a wait need not
call before then. For a generation started at ``t0``, with ``interval`` the wait's poll interval
and ``expected = prior * factor``:

- **Sparse, before the expected time.** The first call likely to find the video comes at
  ``t0 + expected``, and no call comes before it once the model's factor is *settled*. Until
  then (no batch judged it about right or early yet, or the last one found at least
  :data:`UNSETTLED_SHARE` of its videos done at the first call), a far expected time is reached
  in steps of at most :data:`SPARSE_SPACING` intervals: the most detection lag a prior that is too
  late costs.
- **Dense, from the expected time on.** Every ``interval`` (±:data:`JITTER`): a video done after its
  expected time is found at most ``interval`` (plus the jitter) after it is done.
- **Queued.** A job that the gateway still reports ``queued`` at its expected time has not begun:
  its own expected time moves :data:`QUEUED_REMAINING` of the model's expected time later (and the
  time it spends queued is part of what the model's factor learns).
- **Fixed.** A wait whose request sets ``pollIntervalMs`` calls every ``interval`` from the start,
  as asked, and says nothing of the estimate.

The factor, 1 at first, is learned per model from the waits of this process (:class:`Estimates`).
A wait's first call at or after its expected time *judges* the factor the wait used: the video was
already done (the expected time came late) or not. Every :data:`BATCH` judgements on one factor:
when more than :data:`LATE_SHARE` were late, the factor shrinks (by :data:`EARLIER` when all
were); when fewer than :data:`EARLY_SHARE` were, it moves, once half a batch of those waits'
videos are done, to where the earliest of them was done; else it stays. Judgements on an older
factor are dropped, so waits started together move it once. Nothing depends on it for
correctness: an estimate lost with its process costs calls, and a wrong one costs calls or
detection lag for a batch or two.

Everything here is pure: the caller gives the clock and the random draws. The trigger keeps one
:class:`Schedule` per wait; a trigger that waits for many generations keeps one per generation.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from airflow_video_gen.families import resolve_model
from airflow_video_gen.families.base import OUTPUT_RESOLUTION

#: Share of the interval a call comes earlier or later at random, so that thousands of waits
#: started together spread out.
JITTER = 0.1
#: Before its expected time, a wait's calls are at most this many intervals apart: the detection
#: lag when the expected time is too late.
SPARSE_SPACING = 8.0
#: A job still ``queued`` at its expected time: the share of the expected time it has still to go.
QUEUED_REMAINING = 0.5
#: Judgements on one factor before it may move.
BATCH = 16
#: More than this share of a batch already done at their judging call: the factor shrinks.
LATE_SHARE = 0.25
#: At least this share of a batch late unsettles the factor again: the expected time may be far
#: too late, and waits call sparsely before it until a batch finds it about right.
UNSETTLED_SHARE = 0.5
#: Less than this share: the factor grows to where the batch's earliest videos were done.
EARLY_SHARE = 0.05
#: After a late batch the factor shrinks in proportion to the share above :data:`LATE_SHARE`: by
#: this much when every completion was late (halved), by little when a few more were than allowed.
EARLIER = 0.5
#: The factor stays within these bounds.
FACTOR_RANGE = (0.01, 50.0)
#: Models an :class:`Estimates` remembers; the least recently used is forgotten first.
MAX_MODELS = 256
#: Seconds of video assumed when neither the request nor the model says.
DEFAULT_DURATION = 5.0


def expected_seconds(model: str, request: Mapping[str, Any] | None = None) -> float:
    """The prior of a generation: seconds after its start before it is likely done, from the
    family's latency data for ``model`` and the request's ``duration`` and resolution.

    :param request: The submission's ``request`` (the wire names: ``duration``, ``resolution``,
        ``providerOptions``); the model's defaults where it says nothing.
    """
    family, spec = resolve_model(model)
    request = request if isinstance(request, Mapping) else {}
    duration = request.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration <= 0:
        duration = spec.default_duration or DEFAULT_DURATION
    resolution = request.get("resolution")
    part = family.part(OUTPUT_RESOLUTION)
    options = request.get("providerOptions")
    if (
        part is not None
        and isinstance(options, Mapping)
        and isinstance(options.get(family.provider_key), Mapping)
    ):
        resolution = options[family.provider_key].get(part.wire, resolution)
    return family.latency_of(spec).minimum(
        float(duration), resolution if isinstance(resolution, str) else None
    )


class Estimate(NamedTuple):
    """A model's learned factor, as a wait takes it."""

    #: The factor on the model's prior.
    factor: float
    #: The token of the batch of judgements the wait joins.
    batch: int
    #: A batch found it about right or early, and no later one found half its videos done at
    #: their judging call: the wait need not call before its expected time.
    settled: bool


@dataclass
class _Estimate:
    """One model's factor, the batch of judgements on it, and its recent completion times."""

    factor: float = 1.0
    batch: int = 0
    settled: bool = False
    judged: int = 0
    late: int = 0
    done_at: list[float] = field(default_factory=list)


class Estimates:
    """Per model, the factor on its prior that this process has learned.

    Bounded: ``max_models`` models, each a factor, two counters and at most ``batch`` completion
    times. A wait's first call at or after its expected time judges the factor that
    wait used (the token :meth:`factor` gave it): judgements on an older factor are dropped, so
    thousands of waits started together move the factor once, not once each.

    :param max_models: Models remembered (default :data:`MAX_MODELS`).
    :param batch: Judgements that decide whether a factor moves (default :data:`BATCH`).
    """

    def __init__(self, max_models: int = MAX_MODELS, batch: int = BATCH) -> None:
        self.max_models = max_models
        self.batch = batch
        self._models: OrderedDict[str, _Estimate] = OrderedDict()

    def factor(self, model: str) -> Estimate:
        """The factor on ``model``'s prior, the token of the batch a wait that uses it joins, and
        whether it is settled (:class:`Estimate`)."""
        found = self._models.get(model)
        if found is None:
            return Estimate(1.0, 0, False)
        self._models.move_to_end(model)
        return Estimate(found.factor, found.batch, found.settled)

    def _model(self, model: str) -> _Estimate:
        found = self._models.get(model)
        if found is None:
            found = self._models[model] = _Estimate()
            if len(self._models) > self.max_models:
                self._models.popitem(last=False)
        return found

    def judge(self, model: str, batch: int, *, late: bool) -> None:
        """A wait's first call at or after its expected time (or a call before it that found the
        video done), on the factor of ``batch``.

        :param late: The call found the video done already.
        """
        found = self._model(model)
        if found.batch != batch:
            return
        found.judged += 1
        found.late += late
        self._decide(found)

    def done(self, model: str, batch: int, at: float) -> None:
        """When a generation that its wait's judging call found pending was done (midway between
        the last call that found it pending and the one that found it done), as a share of its
        prior, for a wait on the factor of ``batch``."""
        found = self._model(model)
        if found.batch != batch or len(found.done_at) >= self.batch:
            return
        found.done_at.append(at)
        self._decide(found)

    def _decide(self, found: _Estimate) -> None:
        if found.judged < self.batch:
            return
        share = found.late / found.judged
        factor = found.factor
        if share > LATE_SHARE:
            factor *= 1.0 - EARLIER * (share - LATE_SHARE) / (1.0 - LATE_SHARE)
        elif share < EARLY_SHARE:
            if len(found.done_at) < self.batch // 2:
                return  # early, but where the videos are done is not known yet: wait for it
            factor = max(factor, min(found.done_at))
        found.settled = share <= LATE_SHARE or (found.settled and share < UNSETTLED_SHARE)
        found.factor = min(max(factor, FACTOR_RANGE[0]), FACTOR_RANGE[1])
        found.batch += 1
        found.judged = found.late = 0
        found.done_at = []

    def clear(self) -> None:
        """Forget every model."""
        self._models.clear()


#: What the waits of this process have learned (the triggerer's, or a worker's).
ESTIMATES = Estimates()


class Schedule:
    """When one wait calls status (see the module's description). Pure: every method takes the
    clock, and :meth:`next_call` a random draw.

    :param model: Gateway model id (the estimate is kept per model).
    :param started_at: Epoch seconds the generation was started (the submission's
        ``submitted_at``).
    :param interval: Seconds between calls from the expected time on: the most a video done after
        its expected time waits to be found (the wait's ``poll_interval``).
    :param prior: Seconds after the start before the generation is likely done
        (:func:`expected_seconds`).
    :param fixed: Call every ``interval`` from the start, as a request's ``pollIntervalMs`` asks.
    :param learn: What this wait's calls find feeds the estimate (default ``True``; a wait woken
        by other means, such as a callback, calls at moments that say nothing of it).
    :param estimates: The learned factors (default :data:`ESTIMATES`).
    """

    __slots__ = (
        "_base",
        "_batch",
        "_due",
        "_frozen",
        "_judging",
        "_pending_at",
        "_settled",
        "estimates",
        "fixed",
        "interval",
        "learn",
        "model",
        "prior",
        "started_at",
    )

    def __init__(
        self,
        model: str,
        started_at: float,
        interval: float,
        prior: float,
        *,
        fixed: bool = False,
        learn: bool = True,
        estimates: Estimates | None = None,
    ) -> None:
        self.model = model
        self.started_at = started_at
        self.interval = interval
        self.prior = prior
        self.fixed = fixed
        self.learn = learn and not fixed and prior > 0
        self.estimates = estimates if estimates is not None else ESTIMATES
        #: The model's expected time (prior times factor), and this wait's (moved when queued).
        self._base = 0.0
        self._due = 0.0
        self._batch = 0
        self._settled = False
        #: The expected time is set for good (a call at it is planned, or it was moved).
        self._frozen = False
        #: ``None`` until a call before the expected time is planned (a wait that begins past it
        #: judges nothing); then ``False`` until the judging call (the first at or after the
        #: expected time, or one before it that finds the video done); ``True`` after a judging
        #: call that found the video pending, ``"done"`` after any other.
        self._judging: bool | str | None = None
        self._pending_at: float | None = None

    def expected(self) -> float:
        """Seconds after the start of the first call likely to find the video."""
        if not self._frozen:
            factor, self._batch, self._settled = self.estimates.factor(self.model)
            self._base = self._due = self.prior * factor
        return self._due

    def _reached(self, now: float) -> bool:
        """Whether a call at ``now`` is at or after the expected time (within the jitter)."""
        return now - self.started_at + self.interval * JITTER >= self.expected()

    def first_call(self, now: float, draw: float) -> float:
        """Epoch seconds of a wait's first call, when nothing was read just before it: at once when
        the wait is fixed or past its expected time, else as :meth:`next_call`."""
        if self.fixed or self._reached(now):
            return now
        return self.next_call(now, draw)

    def next_call(self, now: float, draw: float) -> float:
        """Epoch seconds of the next call, decided at ``now`` (after a call, or when a wait begins
        right after a status was read).

        :param draw: A uniform random number in ``[0, 1)``, for the jitter.
        """
        spread = 2.0 * draw - 1.0
        if self.fixed or self._reached(now):
            return now + self.interval * (1.0 + JITTER * spread)
        if self._judging is None:
            self._judging = False
        gap = self.expected() - (now - self.started_at)
        spacing = SPARSE_SPACING * self.interval
        if not self._settled and gap > spacing:
            gap /= math.ceil(gap / spacing)
        else:
            # The call planned is the one at the expected time: it judges this estimate.
            self._frozen = True
        return now + gap + self.interval * JITTER * spread

    def pending(self, now: float, job_status: str | None = None) -> None:
        """A call at ``now`` found the generation pending.

        :param job_status: The gateway's finer state (``queued``, ``running``), when given.
        """
        if self.fixed:
            return
        elapsed = now - self.started_at
        if self._reached(now):
            self._frozen = True
            if self._judging is False:
                self._judging = True
                if self.learn:
                    self.estimates.judge(self.model, self._batch, late=False)
            if job_status == "queued":
                # Not begun at its expected time: its own expected time moves.
                self._due = elapsed + QUEUED_REMAINING * self._base
        self._pending_at = elapsed

    def completed(self, now: float) -> None:
        """A call at ``now`` found the generation completed (what it says of the estimate is kept:
        a judging call that finds it done says the expected time came late; a generation found
        pending at its judging call, and pending again at most two intervals before this call,
        says when its video was done)."""
        if not self.learn:
            return
        elapsed = now - self.started_at
        if self._judging is False:
            self.estimates.judge(self.model, self._batch, late=True)
        elif (
            self._judging is True
            and self._pending_at is not None
            and elapsed - self._pending_at <= 2 * self.interval
        ):
            self.estimates.done(self.model, self._batch, (self._pending_at + elapsed) / 2 / self.prior)
        self._judging = "done"
