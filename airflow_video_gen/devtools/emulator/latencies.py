"""How long each emulated job takes: the emulator's one latency, or a seeded spread per model.

A spread spec is a comma-separated list of items::

    <model id>=<low>-<high>   each job of that model takes a uniform draw in [low, high] seconds
    *=<low>-<high>            the same, for every model without a range of its own
    seed=<int>                seed of the draws (default 0)

For example ``klingai/kling-v2.6-i2v=70-90,google/veo-3.1-fast-generate-001=40-60,seed=7``. A
model with no range of its own, when there is no ``*``, takes the emulator's ``latency``. The
draws come from one seeded stream in the order jobs are started, so the same spec and the same
starts give the same latencies.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LatencyDraws", "LatencySpread", "LatencySpreadError"]

#: The key of the range that every model without its own takes.
ANY_MODEL = "*"


class LatencySpreadError(ValueError):
    """A latency spread spec that cannot be read; the message names the item and says why."""


@dataclass(frozen=True)
class LatencySpread:
    """Per model, the range a job's latency is drawn from (see the module's description).

    :param ranges: ``(low, high)`` seconds by model id, or :data:`ANY_MODEL`.
    :param seed: Seed of the draws.
    """

    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def parse(cls, text: str | None) -> LatencySpread:
        """Read a spec; an empty one spreads nothing.

        :raises LatencySpreadError: For an item that is not ``<model or *>=<low>-<high>`` with
            ``0 <= low <= high``, or ``seed=<int>``.
        """
        ranges: dict[str, tuple[float, float]] = {}
        seed = 0
        for item in (part.strip() for part in (text or "").split(",")):
            if not item:
                continue
            key, sep, value = (s.strip() for s in item.partition("="))
            if not sep or not key:
                raise LatencySpreadError(
                    f"latency spread item {item!r}: expected <model or *>=<low>-<high> or seed=<int>"
                )
            if key == "seed":
                try:
                    seed = int(value)
                except ValueError:
                    raise LatencySpreadError(
                        f"latency spread item {item!r}: the seed must be an integer"
                    ) from None
                continue
            low_text, dash, high_text = value.partition("-")
            try:
                low, high = float(low_text), float(high_text if dash else low_text)
            except ValueError:
                raise LatencySpreadError(
                    f"latency spread item {item!r}: expected <low>-<high> in seconds, such as 40-60"
                ) from None
            if not 0 <= low <= high:
                raise LatencySpreadError(f"latency spread item {item!r}: need 0 <= low <= high")
            ranges[key] = (low, high)
        return cls(ranges=ranges, seed=seed)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def describe(self) -> str:
        """The spec in canonical form, as :meth:`parse` reads it (empty when nothing is spread)."""
        if not self.ranges:
            return ""
        items = [f"{model}={low:g}-{high:g}" for model, (low, high) in self.ranges.items()]
        return ",".join([*items, f"seed={self.seed}"])


class LatencyDraws:
    """The latency of each new job, drawn from a seeded stream.

    :param latency: Seconds a job of a model without a range takes.
    :param spread: The ranges per model.
    """

    def __init__(self, latency: float, spread: LatencySpread) -> None:
        self.latency = latency
        self.spread = spread
        self.reset()

    def reset(self) -> None:
        """Start the stream again from the seed."""
        self._stream = random.Random(f"{self.spread.seed}/latency")

    def draw(self, model: str) -> float:
        """Seconds the next job of ``model`` takes at least."""
        found = self.spread.ranges.get(model) or self.spread.ranges.get(ANY_MODEL)
        if found is None:
            return self.latency
        return self._stream.uniform(*found)
