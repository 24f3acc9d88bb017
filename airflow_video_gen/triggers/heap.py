"""Keeps the cyclic garbage collector's full walks off a triggerer that holds thousands of waits.

A wait lives for minutes: its task, coroutine frames and timer reach the collector's oldest
generation, and so do its status calls while they queue for a connection, and every full
collection walks all of them on the event loop's thread (0.26 s at 10,000 waits, run 12 of
docs/benchmarks.md: the loop's longest block; 0.7 s at 50,000 with 28,000 calls queued, run 14).
So once a process holds :data:`FREEZE_FROM` waits, every :data:`FREEZE_EVERY` waits started or
status calls begun move what is alive out of the collector's walks with :func:`gc.freeze` (a
constant-time splice of its lists, as Airflow's DAG processor freezes its start-up heap), after a
collection of the young generations so that young garbage is not frozen with it. A full
collection then walks only what came after the last freeze.

Frozen objects are still freed by reference counting the moment nothing holds them; only objects
in reference cycles wait for the collector. They are handed back to it with :func:`gc.unfreeze` when
no wait is left in flight, or once :data:`TURNOVERS` times the largest number of waits in flight
have ended since the first freeze: the next full collection then takes the cycles among them. That
collection walks the whole heap once; it is the only full walk while the triggerer stays busy.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Waits in flight in one process before freezing pays. Low, because a triggerer's heap holds far
#: more per trigger than the wait (Airflow's task instance, context and log binding: 59 KiB against
#: 4.8 KiB, runs 14 and 15 of docs/benchmarks.md), so its full walks grow long sooner.
FREEZE_FROM = 100
#: Waits started and status calls begun between two freezes: the most whose objects a full walk
#: meets.
FREEZE_EVERY = 200
#: Times the largest number of waits in flight that end before frozen objects are handed back.
TURNOVERS = 4


class HeapKeeper:
    """Counts the waits of a process and freezes, or unfreezes, the collector's heap for them.

    :param freeze_from: Waits in flight before the first freeze.
    :param freeze_every: Waits started and calls begun between two freezes.
    :param turnovers: Times the peak in flight that end before an unfreeze.
    """

    def __init__(
        self, *, freeze_from: int = FREEZE_FROM, freeze_every: int = FREEZE_EVERY, turnovers: int = TURNOVERS
    ) -> None:
        self.freeze_from = freeze_from
        self.freeze_every = freeze_every
        self.turnovers = turnovers
        self.in_flight = 0
        self.peak = 0
        self.frozen = False
        self.freezes = 0
        self._begun_since_freeze = 0
        self._ended_since_first_freeze = 0
        self._lock = threading.Lock()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Counts one wait for as long as the block runs."""
        self.started()
        try:
            yield
        finally:
            self.ended()

    def started(self) -> None:
        """One more wait in flight."""
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        self.begun()

    def begun(self) -> None:
        """A wait started or a status call begun; freezes when enough have since the last freeze."""
        with self._lock:
            self._begun_since_freeze += 1
            if self.in_flight < self.freeze_from or self._begun_since_freeze < self.freeze_every:
                return
            self._begun_since_freeze = 0
            self.frozen = True
            self.freezes += 1
        gc.collect(1)
        gc.freeze()

    def ended(self) -> None:
        """One wait fewer; unfreezes when none is left, or when the waits have turned over."""
        with self._lock:
            self.in_flight -= 1
            if not self.frozen:
                return
            self._ended_since_first_freeze += 1
            if self.in_flight and self._ended_since_first_freeze < self.turnovers * self.peak:
                return
            self.frozen = False
            self._ended_since_first_freeze = 0
            self._begun_since_freeze = 0
            self.peak = self.in_flight
        gc.unfreeze()


#: The process's keeper, shared by every wait of every event loop in it.
KEEPER = HeapKeeper()
