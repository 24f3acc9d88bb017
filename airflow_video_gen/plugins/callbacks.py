"""The callback endpoint: where AI Gateway tells this deployment that a generation has ended.

:class:`VideoCallbackPlugin` serves ``POST /video-gen-callbacks/gateway`` on Airflow's
api-server. Its caller is the gateway, a machine with no Airflow login, so the endpoint is not
behind Airflow's authentication: it authenticates each callback by its signature instead, with the
job's own signing secret (kept by the submit task, see :mod:`airflow_video_gen.triggers.callbacks`).

- no, malformed or stale ``x-ai-gateway-signature`` (more than 5 minutes away from now): 401;
- a body that is not a callback (``{"type", "data": {"jobId", "status"}}``, at most 64 KiB): 400/413;
- a job with no kept secret (not started here, or its wait is over): 404;
- a signature that does not match the body under the job's secret: 401;
- otherwise the job is marked as called back (a Variable the waiting trigger looks for) and the
  answer is 204. Repeats of one delivery are harmless.

A callback is only a signal: the waiting trigger reads the result with a status call, so even a
forged callback could do no more than cause one status call early.

Airflow imports plugins in every process, tasks included; the app is built on its first request,
so only the api-server ever pays for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.sdk.plugins_manager import AirflowPlugin

from airflow_video_gen.triggers.callbacks import ENDPOINT_PREFIX

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class CallbackApp:
    """The endpoint's ASGI app, built by :func:`create_app` on its first request."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)


def _secret_of(job_id: str) -> str | None:
    from airflow.models.variable import Variable

    from airflow_video_gen.triggers.callbacks import secret_key

    value = Variable.get(secret_key(job_id), default_var=None)
    return value if isinstance(value, str) and value else None


def _mark_called_back(job_id: str, status: str) -> None:
    from airflow.models.variable import Variable

    from airflow_video_gen.triggers.callbacks import done_key

    Variable.set(done_key(job_id), status, description="AI Gateway called back: the job has ended")


def create_app() -> Any:
    """The endpoint as a FastAPI app (no OpenAPI pages: nothing here is for people)."""
    from fastapi import FastAPI, Request, Response
    from fastapi.concurrency import run_in_threadpool

    from airflow_video_gen.protocol import (
        WEBHOOK_MAX_BYTES,
        WEBHOOK_SIGNATURE_HEADER,
        GatewayProtocolError,
        read_webhook,
        verify_webhook,
        webhook_timestamp,
    )
    from airflow_video_gen.triggers.callbacks import ENDPOINT_PATH

    app = FastAPI(title="AI Gateway callbacks", docs_url=None, redoc_url=None, openapi_url=None)

    def refuse(status: int, detail: str) -> Response:
        return Response(f'{{"detail": "{detail}"}}', status, media_type="application/json")

    async def gateway_callback(request: Request) -> Response:
        header = request.headers.get(WEBHOOK_SIGNATURE_HEADER)
        if webhook_timestamp(header) is None:
            return refuse(401, f"no valid, fresh {WEBHOOK_SIGNATURE_HEADER} header")
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > WEBHOOK_MAX_BYTES:
            return refuse(413, f"a callback body is at most {WEBHOOK_MAX_BYTES} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > WEBHOOK_MAX_BYTES:
                return refuse(413, f"a callback body is at most {WEBHOOK_MAX_BYTES} bytes")
        try:
            event = read_webhook(body)
        except GatewayProtocolError as exc:
            return refuse(400, str(exc))
        secret = await run_in_threadpool(_secret_of, event.job_id)
        if secret is None:
            return refuse(404, "no wait here expects this job's callback")
        if not verify_webhook(header, body, secret):
            return refuse(401, "the signature does not match")
        await run_in_threadpool(_mark_called_back, event.job_id, event.status)
        return Response(status_code=204)

    # A plain route: the handler reads the raw body itself (the signature covers its exact bytes).
    app.add_route(ENDPOINT_PATH, gateway_callback, methods=["POST"])
    return app


class VideoCallbackPlugin(AirflowPlugin):
    """Serves the AI Gateway callback endpoint on Airflow's api-server, under
    ``/video-gen-callbacks``. Point ``[video_gen] callback_url`` at
    ``<api-server URL>/video-gen-callbacks/gateway`` to have waits end on callbacks.

    .. seealso::
        ``docs/scale.md``, "Callbacks".
    """

    name = "video_gen_callbacks"
    fastapi_apps = [{"app": CallbackApp(), "url_prefix": ENDPOINT_PREFIX, "name": "AI Gateway callbacks"}]
