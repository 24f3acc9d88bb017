"""Imports made off the event loop (:mod:`airflow_video_gen.triggers.off_loop`)."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_video_gen.triggers.off_loop import imported


def _modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> tuple[str, Any]:
    """A gate module (an event and an import counter) and a module that imports with ``body``."""
    tag = uuid.uuid4().hex
    (tmp_path / f"gate_{tag}.py").write_text("import threading\nEVENT = threading.Event()\nCOUNT = 0\n")
    (tmp_path / f"slow_{tag}.py").write_text(f"import gate_{tag} as gate\ngate.COUNT += 1\n{body}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"slow_{tag}", importlib.import_module(f"gate_{tag}")


def test_callers_share_one_import_that_runs_while_the_loop_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module's import finishes only once the loop has set the gate: made on the loop's own
    # thread, it would wait for the gate for 30 s and fail.
    name, gate = _modules(tmp_path, monkeypatch, "assert gate.EVENT.wait(30)")

    async def main() -> None:
        waiters = [asyncio.create_task(imported(name)) for _ in range(5)]
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waiters)
        gate.EVENT.set()
        await asyncio.gather(*waiters)
        await imported(name)  # done already: returns at once

    asyncio.run(main())
    assert gate.COUNT == 1


def test_an_import_that_failed_fails_every_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name, gate = _modules(tmp_path, monkeypatch, "raise ValueError('broken module')")

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(*(imported(name) for _ in range(3)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert [str(o) for o in outcomes] == ["broken module"] * 3
    with pytest.raises(ValueError, match="broken module"):
        asyncio.run(imported(name))
    assert gate.COUNT == 1
