"""Fault injection for the emulator: rate limits, server errors, dropped connections, slow answers.

A fault spec is a comma-separated list of ``target=value`` items::

    start.429=0.1,status.500=0.2,status.drop=0.05,*.slow=0.1,job.error=0.05,seed=7,retry_after=1,slow_s=2

``<endpoint>.<kind>=<rate>``
    The share (0 to 1) of calls to ``endpoint`` that get fault ``kind``.
    Endpoints: ``start``, ``status``, ``generate`` (the synchronous SSE call), ``files``, or ``*``
    for all four; an item naming one endpoint overrides a ``*`` item of the same kind.
    Kinds: ``429`` (``rate_limit_exceeded`` with a ``Retry-After`` header), ``500``
    (``internal_server_error``), ``502``, ``503``, ``drop`` (the connection is closed with no
    answer at all), ``slow`` (the normal answer, ``slow_s`` seconds late) and ``lost`` (the call
    is carried out, a start billed and its job created, but the connection is closed instead of
    the answer: the reply lost on the way back, the case idempotency keys exist for).
    The rates of one endpoint add up to at most 1: each call draws once and gets at most one fault.
``job.error=<rate>`` / ``job.cancel=<rate>``
    The share of new jobs that end ``error`` / ``cancelled`` after their latency (on the SSE call:
    an ``error`` event). Together at most 1.
``callback.drop=<rate>``
    The share of jobs started with a ``callbackUrl`` whose callback is never sent (a callback lost
    for good: the waiting side must find the end by polling).
``seed=<int>``
    Seed of the draws (default 0). Each endpoint and the jobs draw from their own seeded stream, so
    the same spec and the same sequence of calls to an endpoint give the same faults.
``retry_after=<seconds>``
    The ``Retry-After`` value of a 429 (default 1).
``slow_s=<seconds>``
    The delay of a ``slow`` answer (default 2).

A faulted call (``lost`` aside) never bills, creates a job or reads its body: the fault is drawn
right after the API key is checked (result files need no key: first thing). Only calls with a
valid key draw, so a misconfigured client does not shift the sequence. On ``generate`` an HTTP
fault is the answer itself, before any event.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ENDPOINTS", "KINDS", "FaultInjector", "FaultSpec", "FaultSpecError", "drop_connection"]

ENDPOINTS = ("start", "status", "generate", "files")
#: Call fault kinds, in the order a draw walks them.
KINDS = ("429", "500", "502", "503", "drop", "slow", "lost")
JOB_KINDS = ("error", "cancel")

_ERRORS: dict[str, tuple[int, str, str]] = {
    "429": (429, "rate_limit_exceeded", "Rate limit exceeded"),
    "500": (500, "internal_server_error", "Internal server error"),
    "502": (502, "bad_gateway", "Bad gateway: the upstream provider did not answer"),
    "503": (503, "service_unavailable", "Service unavailable, try again later"),
}

Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class FaultSpecError(ValueError):
    """A fault spec that does not follow the grammar; the message says which item and why."""


@dataclass(frozen=True)
class FaultSpec:
    """A parsed fault spec (see the module docstring for the grammar).

    :param rates: Rate of each call fault by ``(endpoint, kind)``, with ``*`` already expanded.
    :param job_rates: Rate of each job fault (``error``, ``cancel``).
    :param seed: Seed of the draws.
    :param retry_after: ``Retry-After`` seconds of a 429.
    :param slow_s: Delay of a ``slow`` answer in seconds.
    :param callback_drop: Share of callbacks never sent.
    """

    rates: Mapping[tuple[str, str], float] = field(default_factory=dict)
    job_rates: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    retry_after: float = 1.0
    slow_s: float = 2.0
    callback_drop: float = 0.0

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """Read a spec such as ``start.429=0.1,status.drop=0.05,seed=7``; empty means no faults.

        :raises FaultSpecError: Naming the item that is wrong.
        """
        wildcard: dict[str, float] = {}
        specific: dict[tuple[str, str], float] = {}
        job_rates: dict[str, float] = {}
        scalars: dict[str, float] = {}
        for raw in (text or "").split(","):
            item = raw.strip()
            if not item:
                continue
            target, sep, value_text = item.partition("=")
            target = target.strip()
            if not sep:
                raise FaultSpecError(f"fault item {item!r} is not target=value")
            value = _number(item, value_text)
            if target in ("seed", "retry_after", "slow_s"):
                if value < 0 or (target == "seed" and not value.is_integer()):
                    raise FaultSpecError(f"fault item {item!r}: {target} must be a non-negative number")
                scalars[target] = value
                continue
            endpoint, dot, kind = target.partition(".")
            if not dot:
                raise FaultSpecError(
                    f"fault item {item!r}: unknown target; expected <endpoint>.<kind>, job.error, "
                    "job.cancel, callback.drop, seed, retry_after or slow_s"
                )
            if not 0.0 <= value <= 1.0:
                raise FaultSpecError(f"fault item {item!r}: a rate must be between 0 and 1")
            if endpoint == "callback":
                if kind != "drop":
                    raise FaultSpecError(f"fault item {item!r}: the callback fault is callback.drop")
                scalars["callback_drop"] = value
            elif endpoint == "job":
                if kind not in JOB_KINDS:
                    raise FaultSpecError(f"fault item {item!r}: job faults are job.error and job.cancel")
                job_rates[kind] = value
            elif endpoint not in (*ENDPOINTS, "*"):
                raise FaultSpecError(
                    f"fault item {item!r}: unknown endpoint {endpoint!r}; use {', '.join(ENDPOINTS)} or *"
                )
            elif kind not in KINDS:
                raise FaultSpecError(f"fault item {item!r}: unknown kind {kind!r}; use {', '.join(KINDS)}")
            elif endpoint == "*":
                wildcard[kind] = value
            else:
                specific[(endpoint, kind)] = value
        rates: dict[tuple[str, str], float] = {}
        for endpoint in ENDPOINTS:
            for kind in KINDS:
                rate = specific.get((endpoint, kind), wildcard.get(kind, 0.0))
                if rate > 0:
                    rates[(endpoint, kind)] = rate
            total = sum(r for (e, _), r in rates.items() if e == endpoint)
            if total > 1.0 + 1e-9:
                raise FaultSpecError(f"fault rates of {endpoint} add up to {total:g}; at most 1 is possible")
        if sum(job_rates.values()) > 1.0 + 1e-9:
            raise FaultSpecError("job.error and job.cancel add up to more than 1")
        return cls(
            rates=rates,
            job_rates={k: v for k, v in job_rates.items() if v > 0},
            seed=int(scalars.get("seed", 0)),
            retry_after=scalars.get("retry_after", 1.0),
            slow_s=scalars.get("slow_s", 2.0),
            callback_drop=scalars.get("callback_drop", 0.0),
        )

    def __bool__(self) -> bool:
        return bool(self.rates or self.job_rates or self.callback_drop)

    def describe(self) -> str:
        """The spec in canonical form (``*`` expanded), as :meth:`parse` reads it."""
        items = [f"{e}.{k}={r:g}" for (e, k), r in self.rates.items()]
        items += [f"job.{k}={r:g}" for k, r in self.job_rates.items()]
        items += [f"callback.drop={self.callback_drop:g}"] if self.callback_drop else []
        items += [f"seed={self.seed}", f"retry_after={self.retry_after:g}", f"slow_s={self.slow_s:g}"]
        return ",".join(items)


def _number(item: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise FaultSpecError(f"fault item {item!r}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise FaultSpecError(f"fault item {item!r}: the value must be finite")
    return value


class FaultInjector:
    """Draws faults from a :class:`FaultSpec` with seeded, per-endpoint random streams.

    :param spec: What to inject.
    """

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.counts: Counter[str] = Counter()
        self._streams: dict[str, random.Random] = {}
        self.reset()

    def reset(self) -> None:
        """Start every stream again from the seed and forget the counts."""
        self.counts.clear()
        self._streams = {
            name: random.Random(f"{self.spec.seed}/{name}") for name in (*ENDPOINTS, "job", "callback")
        }

    def draw(self, endpoint: str) -> str | None:
        """The fault kind for one call to ``endpoint``, or ``None``; counted as ``<endpoint>.<kind>``."""
        rates = [(k, self.spec.rates.get((endpoint, k), 0.0)) for k in KINDS]
        if not any(r for _, r in rates):
            return None
        return self._pick(endpoint, rates)

    def draw_job(self) -> str | None:
        """How a new job ends by fault: ``error``, ``cancel`` or ``None`` (normally)."""
        rates = [(k, self.spec.job_rates.get(k, 0.0)) for k in JOB_KINDS]
        if not any(r for _, r in rates):
            return None
        return self._pick("job", rates)

    def draw_callback(self) -> bool:
        """Whether the callback of a new job is dropped; counted as ``callback.drop``."""
        if not self.spec.callback_drop:
            return False
        return self._pick("callback", [("drop", self.spec.callback_drop)]) == "drop"

    def _pick(self, stream: str, rates: list[tuple[str, float]]) -> str | None:
        draw = self._streams[stream].random()
        edge = 0.0
        for kind, rate in rates:
            edge += rate
            if draw < edge:
                self.counts[f"{stream}.{kind}"] += 1
                return kind
        return None

    def error_answer(self, kind: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and JSON body of an HTTP fault (``429``, ``500``, ``502``, ``503``)."""
        status, error_type, message = _ERRORS[kind]
        headers = {"content-type": "application/json"}
        if kind == "429":
            headers["retry-after"] = f"{self.spec.retry_after:g}"
        body = {"error": {"message": f"{message} (injected fault)", "type": error_type}}
        return status, headers, json.dumps(body).encode()


async def drop_connection(send: Send) -> None:
    """Close the client's connection without sending anything.

    ``send`` must be the server's own ``send`` callable (outside every middleware). With uvicorn it
    is a method of the request cycle, whose transport is aborted; the cycle then counts as
    disconnected, so later sends are ignored and nothing is logged. Elsewhere a response that
    promises a body and never sends it stands in: the client still sees the connection end early.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        # connection_lost runs on a later loop iteration; until then the cycle is not disconnected.
        for _ in range(100):
            if getattr(cycle, "disconnected", True):
                break
            await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1024")]})
    raise ConnectionAbortedError("connection dropped (injected fault)")
