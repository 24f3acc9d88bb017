"""Result files the emulator serves under ``/files/<name>``, each until it expires."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileStore", "StoredFile"]


@dataclass(frozen=True)
class StoredFile:
    """One downloadable result.

    :param path: The file on disk (a cached render; several names may share it).
    :param media_type: ``video/mp4`` or ``image/png``.
    :param expires_at: Epoch seconds after which the name answers 410.
    """

    path: Path
    media_type: str
    expires_at: float

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


class FileStore:
    """Names of result files, mapped to what they serve."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    def add(self, name: str, path: Path, media_type: str, expires_at: float) -> None:
        self._files[name] = StoredFile(path, media_type, expires_at)

    def get(self, name: str) -> StoredFile | None:
        return self._files.get(name)

    def clear(self) -> None:
        self._files.clear()
