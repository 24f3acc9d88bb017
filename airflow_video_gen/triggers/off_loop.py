"""Imports a trigger needs, made off the event loop.

A triggerer imports a trigger's class on its event loop, the one loop all of its triggers share
(``TriggerRunner.get_trigger_by_classpath``), and the first of our triggers in a process would
import with it the gateway hook's HTTP stack (aiohttp, requests, httpx): 0.2 to 0.5 s in which no
trigger of that triggerer runs, reported as a blocked loop. So the trigger modules import only
what a trigger's construction needs, and a trigger's ``run`` first awaits :func:`imported` for the
rest, which imports it once per process in a thread of its own.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from concurrent.futures import Future

_lock = threading.Lock()
_imports: dict[tuple[str, ...], Future[None]] = {}


def _import(names: tuple[str, ...], done: Future[None]) -> None:
    try:
        for name in names:
            importlib.import_module(name)
    except BaseException as exc:  # handed to every waiter: an import error fails the trigger
        done.set_exception(exc)
    else:
        done.set_result(None)


async def imported(*names: str) -> None:
    """Return once the modules ``names`` are imported, importing them in a thread the first time.

    Whatever the number of callers and event loops, each tuple of names is imported once per
    process; callers that come while it is under way wait for the same import, without blocking
    their loop (a plain ``import`` of a module another thread is importing would block until it is
    done). An import that failed raises its error again in every caller.
    """
    done = _imports.get(names)
    if done is None:
        with _lock:
            done = _imports.get(names)
            if done is None:
                done = _imports[names] = Future()
                threading.Thread(
                    target=_import, args=(names, done), name="airflow_video_gen imports", daemon=True
                ).start()
    if not done.done():
        await asyncio.wrap_future(done)
    done.result()
