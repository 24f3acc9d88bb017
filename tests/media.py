"""Test media on real parts: a loopback image host and an MP4 reader built on PyAV."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

FIXTURE_IMAGES = Path(__file__).resolve().parent / "fixtures" / "images"


class ImageHost:
    """A threaded HTTP server on 127.0.0.1 serving images by name (query strings are ignored, as a
    presigned URL's signature would be)."""

    def __init__(self, files: dict[str, tuple[bytes, str]]) -> None:
        self.files = files
        self.hits: dict[str, int] = {}
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.split("?", 1)[0].lstrip("/")
                host.hits[name] = host.hits.get(name, 0) + 1
                found = host.files.get(name)
                if found is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                data, media_type = found
                self.send_response(200)
                self.send_header("content-type", media_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> ImageHost:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, name: str, query: str = "") -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/{name}" + (f"?{query}" if query else "")

    def image(self, name: str) -> Image.Image:
        return Image.open(io.BytesIO(self.files[name][0])).convert("RGB")


def fixture_b64(name: str) -> str:
    """A seed fixture image as raw base64."""
    return base64.b64encode((FIXTURE_IMAGES / name).read_bytes()).decode("ascii")


def fit_pad(image: Image.Image, width: int, height: int) -> np.ndarray:
    """What a ``pad`` render's frame should show: the image scaled to fit, centred on black."""
    scale = min(width / image.width, height / image.height)
    size = (round(image.width * scale), round(image.height * scale))
    canvas = Image.new("RGB", (width, height))
    canvas.paste(
        image.resize(size, Image.Resampling.LANCZOS), ((width - size[0]) // 2, (height - size[1]) // 2)
    )
    return np.asarray(canvas, dtype=np.int16)


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGB frames, 0-255."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@dataclass
class Mp4:
    """What PyAV reads from an MP4: counts, size, rate, audio and a few frames (not all of them: a
    1280x720 clip would take hundreds of MB as RGB arrays)."""

    width: int
    height: int
    fps: Fraction
    frames: int
    has_audio: bool
    first: np.ndarray
    last: np.ndarray
    kept: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.frames / float(self.fps)

    def frame_at(self, index: int) -> np.ndarray:
        """Frame ``index``, which must have been asked for (``keep``) when decoding."""
        if index == 0:
            return self.first
        assert index in self.kept, f"frame {index} was not kept; pass keep=({index},) to read_mp4"
        return self.kept[index]


def read_mp4(data: bytes, keep: Iterable[int] = ()) -> Mp4:
    """Decode every frame of an MP4, keeping the first, the last and those at ``keep``."""
    assert data[4:8] == b"ftyp", "not an MP4"
    wanted = set(keep)
    kept: dict[int, np.ndarray] = {}
    first: np.ndarray | None = None
    last: Any = None
    count = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        fps = stream.average_rate
        has_audio = bool(container.streams.audio)
        for count, frame in enumerate(container.decode(stream), start=1):
            if first is None:
                first = frame.to_ndarray(format="rgb24")
            if count - 1 in wanted:
                kept[count - 1] = frame.to_ndarray(format="rgb24")
            last = frame
    assert first is not None, "no video frames"
    assert fps is not None
    height, width = first.shape[:2]
    return Mp4(width, height, Fraction(fps), count, has_audio, first, last.to_ndarray(format="rgb24"), kept)
