"""The collector's heap around many waits: frozen while they are many, handed back when they end."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from airflow_video_gen.triggers.heap import HeapKeeper


class Cycle:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_few_waits_leave_the_collector_alone() -> None:
    keeper = HeapKeeper(freeze_from=10, freeze_every=10)
    with ExitStack() as waits:
        for _ in range(9):
            waits.enter_context(keeper.waiting())
        assert gc.get_freeze_count() == 0
        assert not keeper.frozen


def test_many_waits_freeze_what_is_alive_and_their_end_hands_it_back() -> None:
    keeper = HeapKeeper(freeze_from=10, freeze_every=5)
    waits = ExitStack()
    for _ in range(10):
        waits.enter_context(keeper.waiting())
    assert keeper.frozen
    assert keeper.freezes == 1
    frozen = gc.get_freeze_count()
    assert frozen > 0
    # Five more waits started: alive objects are frozen again, the new ones with them.
    later = [Cycle() for _ in range(100)]
    for _ in range(5):
        waits.enter_context(keeper.waiting())
    assert keeper.freezes == 2
    assert gc.get_freeze_count() >= frozen + len(later)
    waits.close()
    assert keeper.in_flight == 0
    assert not keeper.frozen
    assert gc.get_freeze_count() == 0


def test_a_cycle_that_dies_while_frozen_is_collected_once_the_waits_have_ended() -> None:
    keeper = HeapKeeper(freeze_from=3, freeze_every=3)
    cycle = Cycle()
    alive = weakref.ref(cycle)
    waits = ExitStack()
    for _ in range(3):
        waits.enter_context(keeper.waiting())
    assert keeper.frozen
    del cycle
    gc.collect()
    assert alive() is not None, "a frozen cycle is not the collector's to free"
    waits.close()
    gc.collect()
    assert alive() is None


def test_a_busy_process_hands_frozen_objects_back_after_its_waits_turn_over() -> None:
    keeper = HeapKeeper(freeze_from=4, freeze_every=4, turnovers=2)
    waits = [keeper.waiting() for _ in range(4)]
    for wait in waits:
        wait.__enter__()
    assert keeper.frozen
    # Waits end and others start, four in flight throughout: after 2 x 4 have ended, unfrozen.
    for turn in range(8):
        waits.pop(0).__exit__(None, None, None)
        assert keeper.frozen == (turn < 7), turn
        wait = keeper.waiting()
        wait.__enter__()
        waits.append(wait)
    assert not keeper.frozen
    assert gc.get_freeze_count() == 0
    for wait in waits:
        wait.__exit__(None, None, None)
    assert keeper.in_flight == 0


def test_status_calls_count_toward_a_freeze_once_waits_are_many() -> None:
    """Calls queued for a connection live for seconds too: they are frozen like the waits."""
    keeper = HeapKeeper(freeze_from=3, freeze_every=10)
    with ExitStack() as waits:
        for _ in range(2):
            waits.enter_context(keeper.waiting())
        for _ in range(20):
            keeper.begun()
        assert keeper.freezes == 0, "two waits are too few to freeze for"
        waits.enter_context(keeper.waiting())
        assert keeper.freezes == 1
        for _ in range(9):
            keeper.begun()
        assert keeper.freezes == 1
        keeper.begun()
        assert keeper.freezes == 2
    assert gc.get_freeze_count() == 0
