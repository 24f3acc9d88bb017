"""A loopback AI Gateway that records every request and answers the video endpoints.

Standard library only, so it runs wherever the tests run. It speaks the subset of the gateway video
protocol that the official client needs to finish a call:

* ``POST {base}/video-model/start``: queue a job, answer its opaque ``operation``.
* ``POST {base}/video-model/status``: ``pending`` for the first ``pending_polls`` calls of a job,
  then ``completed`` with one video.
* ``POST {base}/video-model`` (``accept: text/event-stream``): one SSE ``result`` event.
* ``GET /files/<id>.mp4``: the bytes of a finished video when results are delivered as URLs.

Usage::

    with RecordingGateway() as gw:
        run_client(base_url=gw.base_url)
        gw.requests  # every request, in arrival order
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

BASE_PATH = "/v4/ai"

# The smallest thing a media sniffer recognises as MP4: an ``ftyp`` box with the ``mp42`` brand.
DUMMY_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"

VideoDelivery = Literal["base64", "url"]
#: A scripted answer: a status, ``{"status", "headers", "body"}``, or ``"drop"``.
Scripted = int | dict[str, Any] | str


@dataclass
class RecordedRequest:
    """One request as the gateway received it."""

    method: str
    path: str
    headers: dict[str, str]
    """All request headers, names lowercased."""
    body: Any
    """The JSON body parsed, or ``None`` when there was no body or it was not JSON."""
    raw_body: bytes = field(repr=False, default=b"")


class RecordingGateway:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers like AI Gateway.

    :param video_delivery: ``"base64"`` returns the video inline; ``"url"`` returns a URL on this
        server (``/files/<job>.mp4``). Note that the official client's default downloader refuses
        loopback URLs, so ``"url"`` needs a client configured with its own download function.
    :param pending_polls: how many status calls of a job answer ``pending`` before ``completed``.
    :param video_bytes: the bytes of every generated video.
    :param failures: per call (``"start"``, ``"status"``, ``"generate"``), answers to give first,
        one per request and in order, before answering normally. An answer is an HTTP status (sent
        with a gateway error body), a dict ``{"status", "headers"?, "body"?}`` sent as given, or
        ``"drop"`` (the connection is closed with no answer); e.g. ``{"start": [500]}`` fails the
        first start once.
    """

    def __init__(
        self,
        *,
        video_delivery: VideoDelivery = "base64",
        pending_polls: int = 1,
        video_bytes: bytes = DUMMY_MP4,
        failures: dict[str, list[Scripted]] | None = None,
    ) -> None:
        self.video_delivery: VideoDelivery = video_delivery
        self._failures = {call: list(statuses) for call, statuses in (failures or {}).items()}
        self.pending_polls = pending_polls
        self.video_bytes = video_bytes
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._polls: dict[str, int] = {}
        self._job_counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> RecordingGateway:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        gateway = self

        class Handler(_GatewayHandler):
            owner = gateway

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> RecordingGateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- accessors ---------------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._server is None:
            raise RuntimeError("the recording gateway is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The base URL to give the client, e.g. ``http://127.0.0.1:4321/v4/ai``."""
        return self.origin + BASE_PATH

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the recorded requests (jobs stay known)."""
        with self._lock:
            self._requests.clear()

    # -- protocol ----------------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_failure(self, call: str) -> Scripted | None:
        with self._lock:
            queue = self._failures.get(call)
            return queue.pop(0) if queue else None

    def _new_job(self) -> str:
        with self._lock:
            self._job_counter += 1
            job_id = f"job_{self._job_counter}"
            self._polls[job_id] = 0
            return job_id

    def _video(self, job_id: str) -> dict[str, Any]:
        if self.video_delivery == "url":
            return {"type": "url", "url": f"{self.origin}/files/{job_id}.mp4", "mediaType": "video/mp4"}
        return {
            "type": "base64",
            "data": base64.b64encode(self.video_bytes).decode("ascii"),
            "mediaType": "video/mp4",
        }

    def start_response(self) -> dict[str, Any]:
        """The answer to ``video-model/start``: a new queued job."""
        job_id = self._new_job()
        return {
            "operation": {"gatewayJobId": job_id},
            "warnings": [],
            "providerMetadata": {"gateway": {"asyncJob": {"jobId": job_id, "status": "queued"}}},
        }

    def status_response(self, body: Any) -> tuple[int, dict[str, Any]]:
        """The answer to ``video-model/status`` for the operation in ``body``."""
        operation = body.get("operation") if isinstance(body, dict) else None
        job_id = operation.get("gatewayJobId") if isinstance(operation, dict) else None
        with self._lock:
            if not isinstance(job_id, str) or job_id not in self._polls:
                return 404, {"error": {"message": f"Unknown job {job_id!r}", "type": "not_found"}}
            self._polls[job_id] += 1
            polls = self._polls[job_id]
        if polls <= self.pending_polls:
            return 200, {
                "status": "pending",
                "providerMetadata": {"gateway": {"asyncJob": {"jobId": job_id, "status": "running"}}},
            }
        return 200, {
            "status": "completed",
            "videos": [self._video(job_id)],
            "warnings": [],
            "providerMetadata": {"gateway": {"asyncJob": {"jobId": job_id, "status": "completed"}}},
        }

    def generate_event(self) -> dict[str, Any]:
        """The single SSE event of the synchronous ``video-model`` call."""
        job_id = self._new_job()
        return {
            "type": "result",
            "videos": [self._video(job_id)],
            "warnings": [],
            "providerMetadata": {"gateway": {"generationId": f"gen_{job_id}"}},
        }


_ROUTES = {"/video-model/start": "start", "/video-model/status": "status", "/video-model": "generate"}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "forbidden",
    404: "not_found",
    424: "failed_dependency",
    429: "rate_limit_exceeded",
}


class _GatewayHandler(BaseHTTPRequestHandler):
    owner: RecordingGateway
    server_version = "RecordingGateway/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the recorded requests are the log."""

    def _capture(self) -> tuple[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.owner._record(RecordedRequest(self.command, path, headers, body, raw))
        return path, body

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def do_GET(self) -> None:
        path, _ = self._capture()
        if path.startswith("/files/") and path.endswith(".mp4"):
            self._send(200, self.owner.video_bytes, "video/mp4")
        else:
            self._send_json(404, {"error": {"message": f"No route for GET {path}", "type": "not_found"}})

    def do_POST(self) -> None:
        path, body = self._capture()
        route = path[len(BASE_PATH) :] if path.startswith(BASE_PATH) else None
        call = _ROUTES.get(route or "")
        failure = self.owner._next_failure(call) if call else None
        if failure == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
        elif isinstance(failure, dict):
            payload = json.dumps(failure.get("body", {})).encode()
            self.send_response(int(failure["status"]))
            for name, value in failure.get("headers", {}).items():
                self.send_header(name, value)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        elif isinstance(failure, int):
            error_type = _ERROR_TYPES.get(failure, "internal_server_error")
            self._send_json(failure, {"error": {"message": f"Injected {failure}", "type": error_type}})
        elif route == "/video-model/start":
            self._send_json(200, self.owner.start_response())
        elif route == "/video-model/status":
            self._send_json(*self.owner.status_response(body))
        elif route == "/video-model":
            if "text/event-stream" not in self.headers.get("accept", ""):
                message = "video-model needs accept: text/event-stream"
                self._send_json(400, {"error": {"message": message, "type": "invalid_request_error"}})
                return
            event = f"data: {json.dumps(self.owner.generate_event())}\n\n".encode()
            self._send(200, event, "text/event-stream")
        else:
            self._send_json(404, {"error": {"message": f"No route for POST {path}", "type": "not_found"}})
