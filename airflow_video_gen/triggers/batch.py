"""BatchGenerationTrigger: waits for every generation of a batch in one trigger, fires one event.

Each generation is waited for by a :class:`~airflow_video_gen.triggers.generation.VideoGenerationTrigger`
of its own, run inside this one (not registered with the triggerer): the same polling, backoff,
deadline and callbacks as a single wait, all of the batch's at once on the loop's shared session.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_video_gen.triggers.generation import VideoGenerationTrigger

#: The ``status`` of the batch's one event: every generation of the batch has ended.
ENDED = "ended"


class BatchGenerationTrigger(BaseTrigger):
    """Waits for several generations at once; one event when all have ended, each outcome inside.

    The event is ``{"status": "ended", "reason": "all_ended", "message", "outcomes", "elapsed_s"}``:
    ``outcomes`` holds, in the order of ``operations``, the event each generation's own
    ``VideoGenerationTrigger`` fired (``completed``, ``error``, ``cancelled``, ``timeout`` or
    ``transient``, with its message).

    :param shared: The ``VideoGenerationTrigger`` keyword arguments every wait of the batch has in
        common (the deadline, poll interval, connection id...).
    :param operations: The keyword arguments of each wait beyond ``shared`` (model, operation,
        start time...).
    """

    def __init__(self, *, shared: Mapping[str, Any], operations: Sequence[Mapping[str, Any]]) -> None:
        super().__init__()
        self.shared = dict(shared)
        self.operations = [dict(operation) for operation in operations]

    @classmethod
    def of(cls, waits: Sequence[Mapping[str, Any]]) -> BatchGenerationTrigger:
        """The trigger of ``waits`` (each the kwargs of one generation's ``VideoGenerationTrigger``,
        see :func:`~airflow_video_gen.waiting.wait_kwargs`), their common values stored once."""
        first = waits[0] if waits else {}
        shared = {k: v for k, v in first.items() if all(k in w and w[k] == v for w in waits)}
        return cls(shared=shared, operations=[{k: v for k, v in w.items() if k not in shared} for w in waits])

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"shared": self.shared, "operations": self.operations},
        )

    def waits(self) -> list[VideoGenerationTrigger]:
        """One ``VideoGenerationTrigger`` per generation of the batch."""
        return [VideoGenerationTrigger(**{**self.shared, **operation}) for operation in self.operations]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        began = time.time()
        outcomes = await asyncio.gather(*(_first_event(wait) for wait in self.waits()))
        counts = Counter(str(outcome.get("status")) for outcome in outcomes)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        self.log.info("All %d generation(s) of the batch have ended: %s", len(outcomes), summary)
        yield TriggerEvent(
            {
                "status": ENDED,
                "reason": "all_ended",
                "message": f"{len(outcomes)} generation(s) ended: {summary}",
                "outcomes": outcomes,
                "elapsed_s": round(time.time() - began, 3),
            }
        )


async def _first_event(trigger: BaseTrigger) -> dict[str, Any]:
    """The payload of the one event ``trigger`` fires."""
    events = trigger.run()
    try:
        async for event in events:
            return dict(event.payload)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    raise RuntimeError(f"{type(trigger).__name__} ended without an event")
