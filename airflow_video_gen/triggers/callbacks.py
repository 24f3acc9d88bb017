"""Callbacks that end a wait early, with polling as the fallback.

Turned on for a deployment by ``[video_gen] callback_url``: the public URL of the provider's
callback endpoint on Airflow's api-server (:mod:`airflow_video_gen.plugins.callbacks`). Then:

1. A submit task sends that URL as ``callbackUrl`` and keeps the start's signing secret in the
   Airflow Variable ``video_gen_callback_secret__<job id>``: the endpoint needs it to check the
   callback's signature, and the secret exists nowhere else (never in XCom, logs or trigger rows).
2. The endpoint checks the signature and sets the Variable ``video_gen_callback_done__<job id>``.
3. Each triggerer looks at the names of those Variables once every ``callback_look_interval``
   (one ``Variable.keys`` call for all its triggers, whatever their number) and wakes the triggers
   whose job has called back; each makes one status call, which carries the result. Until then a
   trigger polls only every ``callback_fallback_interval``, so a lost callback costs time, never
   the generation.

When the wait ends, the trigger deletes both Variables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from airflow.sdk import Variable
from airflow.sdk.configuration import conf

log = logging.getLogger(__name__)

#: The Airflow configuration section of these settings (``AIRFLOW__VIDEO_GEN__CALLBACK_URL``...).
SECTION = "video_gen"
#: Prefix of the Variables holding a job's signing secret (``secret`` makes Airflow mask them).
SECRET_PREFIX = "video_gen_callback_secret__"
#: Prefix of the Variables the endpoint sets when a job's callback has come.
DONE_PREFIX = "video_gen_callback_done__"
#: Path of the endpoint under the api-server's root: ``<api-server URL>`` + this.
ENDPOINT_PREFIX = "/video-gen-callbacks"
ENDPOINT_PATH = "/gateway"
#: Seconds a trigger waits before its first status call, even when its callback has already come:
#: a trigger that fires within a second of its deferral can meet apache/airflow#71580.
FIRST_WAIT = 1.0
#: Seconds between status calls once a callback has come but the status still says pending.
AFTER_CALLBACK_INTERVAL = 5.0


def callback_url() -> str | None:
    """``[video_gen] callback_url``: where the gateway calls back, or ``None`` (polling only)."""
    url = conf.get(SECTION, "callback_url", fallback="") or ""
    return url.strip() or None


def fallback_interval() -> float:
    """``[video_gen] callback_fallback_interval``: seconds between status calls while a wait
    expects a callback (default 60)."""
    return conf.getfloat(SECTION, "callback_fallback_interval", fallback=60.0)


def look_interval() -> float:
    """``[video_gen] callback_look_interval``: seconds between a triggerer's looks for callbacks
    (default 2)."""
    return conf.getfloat(SECTION, "callback_look_interval", fallback=2.0)


def secret_key(job_id: str) -> str:
    return f"{SECRET_PREFIX}{job_id}"


def done_key(job_id: str) -> str:
    return f"{DONE_PREFIX}{job_id}"


def keep_secret(job_id: str, secret: str) -> None:
    """Keep a job's signing secret for the endpoint (from a task; Airflow encrypts Variables with
    its Fernet key and masks those named ``secret`` in logs and the UI)."""
    Variable.set(secret_key(job_id), secret, description="AI Gateway callback signing secret of one job")


def forget(job_id: str) -> None:
    """Delete a job's secret and callback mark (the wait is over)."""
    for key in (secret_key(job_id), done_key(job_id)):
        try:
            Variable.delete(key)
        except Exception as exc:  # gone already, or no metadata database to reach
            log.debug("could not delete Variable %s: %s", key, exc)


def _called_back() -> list[str]:
    return [key[len(DONE_PREFIX) :] for key in Variable.keys(prefix=DONE_PREFIX)]


class CallbackInbox:
    """The callbacks one event loop (a triggerer) waits for: one look for all of them.

    :param interval: Seconds between looks.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        #: Looks made (each one ``Variable.keys`` call).
        self.looks = 0
        self._waiting: dict[str, list[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, job_id: str) -> asyncio.Event:
        """An event set once ``job_id`` has called back."""
        event = asyncio.Event()
        self._waiting.setdefault(job_id, []).append(event)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._look(), name="video-gen-callback-inbox")
        return event

    def unwatch(self, job_id: str, event: asyncio.Event) -> None:
        events = self._waiting.get(job_id, [])
        with contextlib.suppress(ValueError):
            events.remove(event)
        if not events:
            self._waiting.pop(job_id, None)

    async def _look(self) -> None:
        while self._waiting:
            try:
                # Variable.keys goes through the triggerer's supervisor; from a thread, so the
                # loop is never blocked while it answers.
                called = await asyncio.to_thread(_called_back)
            except Exception as exc:
                log.warning("Could not look for callbacks (%s); waits go on by polling", exc)
                called = []
            self.looks += 1
            for job_id in called:
                for event in self._waiting.get(job_id, ()):
                    event.set()
            await asyncio.sleep(self.interval)


_INBOXES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CallbackInbox] = weakref.WeakKeyDictionary()


def inbox() -> CallbackInbox:
    """The running event loop's inbox (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _INBOXES.get(loop)
    if found is None:
        found = _INBOXES[loop] = CallbackInbox(look_interval())
    return found
