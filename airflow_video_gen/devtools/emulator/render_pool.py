"""Rendering off the request path: a process pool running :mod:`airflow_video_gen.devtools.emulator.render`.

Renders are cached by key (the request's fingerprint and the video's index): a repeated request,
or two jobs of the same request at once, render once. The workers run at a lower CPU priority so
that status polls stay fast while videos are encoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from airflow_video_gen.devtools.emulator.render import RenderSpec, render_last_frame_png, render_video

__all__ = ["RenderPool"]

#: How much the workers' priority is lowered (``nice``), so the server's event loop goes first.
WORKER_NICENESS = 5


def _worker_init() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.nice(WORKER_NICENESS)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End the worker when the server is gone (killed without a chance to stop its pool)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _warm_up() -> None:
    """Nothing: running it makes the pool start its worker, which imports the renderer."""


def _render_video_file(spec: RenderSpec, path: str) -> None:
    partial = f"{path}.partial.mp4"
    render_video(spec, partial)
    os.replace(partial, path)


def _render_last_frame_file(spec: RenderSpec, path: str) -> None:
    partial = f"{path}.partial"
    with open(partial, "wb") as out:
        out.write(render_last_frame_png(spec))
    os.replace(partial, path)


class RenderPool:
    """A process pool of renderers with a cache of finished files.

    :param workers: Worker processes (each encodes one video at a time).
    :param directory: Where rendered files are written.
    """

    def __init__(self, workers: int, directory: Path) -> None:
        self.workers = workers
        self.directory = directory
        self.renders_done = 0
        self.cache_hits = 0
        self._executor: ProcessPoolExecutor | None = None
        self._cache: dict[str, asyncio.Future[Path]] = {}
        self._warm: Future[None] | None = None

    def start(self) -> None:
        """Start the pool (``spawn``: the server process has threads, so no ``fork``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
        )
        self._warm = self._executor.submit(_warm_up)

    def shutdown(self) -> None:
        """Stop the pool: queued renders are cancelled, running ones are killed. Blocking (briefly)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # A long render would otherwise hold the shutdown (and the files' cleanup) for its whole
        # run. Python 3.14 has terminate_workers(); before it, the pool's own process table (read
        # before shutdown(), which drops it).
        terminate = getattr(executor, "terminate_workers", None)
        if terminate is not None:
            terminate()
        else:
            workers = list((getattr(executor, "_processes", None) or {}).values())
            executor.shutdown(wait=False, cancel_futures=True)
            for process in workers:
                with contextlib.suppress(OSError, ValueError):
                    process.terminate()
        executor.shutdown(wait=True)

    def reset_counts(self) -> None:
        self.renders_done = 0
        self.cache_hits = 0

    async def video(self, key: str, spec: RenderSpec) -> Path:
        """The MP4 of ``spec``, rendered once per ``key``.

        :raises ValueError: When the renderer refuses the spec or cannot decode an image.
        """
        return await self._cached(f"{key}.mp4", spec, _render_video_file)

    async def last_frame(self, key: str, spec: RenderSpec) -> Path:
        """The PNG of the last frame of ``spec``'s video, rendered once per ``key``."""
        return await self._cached(f"{key}-last.png", spec, _render_last_frame_file)

    async def _cached(self, name: str, spec: RenderSpec, work: Callable[[RenderSpec, str], None]) -> Path:
        existing = self._cache.get(name)
        if existing is not None:
            self.cache_hits += 1
            return await asyncio.shield(existing)
        if self._executor is None:
            raise RuntimeError("the render pool is not running")
        path = self.directory / name
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Path] = loop.create_future()
        self._cache[name] = future
        try:
            await asyncio.wrap_future(self._executor.submit(work, spec, str(path)))
        except asyncio.CancelledError:
            del self._cache[name]
            future.cancel()
            raise
        except Exception as exc:
            # A failed render is not cached: the same request may be tried again.
            del self._cache[name]
            future.set_exception(exc)
            future.exception()  # waiters re-raise it; this marks it retrieved when there are none
            raise
        self.renders_done += 1
        future.set_result(path)
        return path
