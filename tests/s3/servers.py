"""Loopback HTTP servers for the S3 tests and the archive benchmark.

:class:`FileHost` serves files by name, each either fixed bytes or generated on the fly (a real MP4
followed by a large MP4 ``free`` box of generated filler, so a video of any size decodes without
ever existing in memory). A file can be served short: its full ``Content-Length`` is announced,
then the connection closes half way, as a dying CDN would.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import numpy as np

BLOCK = 1024 * 1024


def make_mp4(seconds: float = 2.0, fps: int = 24, width: int = 320, height: int = 180) -> bytes:
    """A real H.264 MP4: a frame brightening over time, with a moving bar."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("h264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * fps)):
            frame = np.full((height, width, 3), (40 + i * 5) % 255, np.uint8)
            x = i * 7 % max(1, width - 20)
            frame[:, x : x + 20] = (230, 120, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _filler(index: int) -> bytes:
    """Block ``index`` of the generated filler: cheap, deterministic, not all alike."""
    seed = hashlib.sha256(index.to_bytes(8, "big")).digest()
    return (seed * (BLOCK // len(seed)))[:BLOCK]


def padded_stream(head: bytes, size: int) -> Iterator[bytes]:
    """``head`` (an MP4) then one ``free`` box filling the stream up to ``size`` bytes."""
    pad = size - len(head)
    if pad < 8 or pad >= 2**32:
        raise ValueError(f"size must leave 8 bytes to 4 GiB after the {len(head)}-byte head")
    yield head
    yield struct.pack(">I4s", pad, b"free")
    left, index = pad - 8, 0
    while left > 0:
        block = _filler(index)[: min(BLOCK, left)]
        left -= len(block)
        index += 1
        yield block


def stream_digest(chunks: Iterator[bytes]) -> tuple[int, str]:
    """Size and sha256 of a stream."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


@dataclass
class Served:
    """One file: fixed ``data``, or ``head`` padded to ``size``; ``cut_at`` ends it early (on the
    first ``cut_times`` downloads only, when set);
    without ``announce_length`` no ``Content-Length`` is sent (the body ends when the connection
    closes); ``pace_s`` is a pause after each 1 MiB block (a slow source); ``require_query``
    answers 403 unless the query string holds it (a presigned URL whose signature must be sent)."""

    media_type: str = "video/mp4"
    data: bytes | None = None
    head: bytes = b""
    size: int = 0
    cut_at: int | None = None
    cut_times: int | None = None
    announce_length: bool = True
    pace_s: float = 0.0
    require_query: str | None = None

    @property
    def length(self) -> int:
        return len(self.data) if self.data is not None else self.size

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            for start in range(0, len(self.data), BLOCK):
                yield self.data[start : start + BLOCK]
        else:
            yield from padded_stream(self.head, self.size)


class FileHost:
    """A threaded HTTP server on 127.0.0.1 serving :class:`Served` files under ``/<name>``."""

    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                path, _, query = self.path.partition("?")
                served = host.files.get(path.lstrip("/"))
                if served is not None and served.require_query and served.require_query not in query:
                    self.send_response(403)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if served is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("content-type", served.media_type)
                if served.announce_length:
                    self.send_header("content-length", str(served.length))
                else:
                    self.close_connection = True
                    self.send_header("connection", "close")
                self.end_headers()
                if not body:
                    return
                sent = 0
                cut_at = served.cut_at
                if cut_at is not None and served.cut_times is not None:
                    with host.lock:
                        if served.cut_times <= 0:
                            cut_at = None
                        served.cut_times -= 1
                try:
                    for chunk in served.chunks():
                        if cut_at is not None and sent + len(chunk) > cut_at:
                            self.wfile.write(chunk[: cut_at - sent])
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        if served.pace_s:
                            time.sleep(served.pace_s)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FileHost:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def add(self, name: str, served: Served) -> str:
        """Serve ``served`` as ``name``; returns its URL."""
        self.files[name] = served
        return self.url(name)

    def __enter__(self) -> FileHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
