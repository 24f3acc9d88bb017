"""How an emulator instance behaves: latency, API key, faults, result delivery, rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from airflow_video_gen.devtools.emulator.faults import FaultSpec
from airflow_video_gen.devtools.emulator.latencies import LatencySpread

ResultDelivery = Literal["url", "base64", "uploaded"]

#: The starting balance when none is given: enough that it never runs out in practice.
DEFAULT_CREDITS = Decimal("1000000")
#: What one second of generated video costs, in the balance's unit.
DEFAULT_PRICE_PER_SECOND = Decimal("0.05")


@dataclass(frozen=True)
class EmulatorSettings:
    """Settings of one emulator app.

    :param api_key: The only bearer token accepted; ``None`` (default) accepts any non-empty one.
    :param latency: Seconds each job takes at least (default 3): ``queued`` for the first 20 %,
        then ``running``; a job completes once this time has passed *and* its render is done.
    :param latency_spread: Per model, a range each job's latency is drawn from in place of
        ``latency`` (see :mod:`airflow_video_gen.devtools.emulator.latencies`); none by default.
    :param faults: Faults to inject (see :mod:`airflow_video_gen.devtools.emulator.faults`); none by default.
    :param results: ``base64`` (default): the MP4 bytes inline in the answer; ``url``: links under
        ``/files/``. Inline is the default because the official AI SDK client downloads result URLs
        with a downloader that refuses loopback and private addresses ("URL with IP address
        127.0.0.1 is not allowed"), so it could never fetch a local emulator's links; ``url``
        exercises a client's download path (this package's tests and demo use it); ``uploaded``:
        ``{"type": "uploaded", "mediaType"}`` entries, as when the gateway delivers the videos to the
        team's own upload destination (no bytes to fetch).
    :param render_workers: Processes rendering videos (default 1).
    :param public_url: Root URL that result file links start with (e.g. when the emulator is
        reached through a proxy); default: the scheme and host the start call came in on.
    :param files_dir: Directory for rendered files; default a temporary directory removed when the
        app shuts down.
    :param file_ttl: Seconds a result file stays downloadable after its job completes (default 3600);
        ``expiresAt`` says when, and later downloads answer 410. A status call on a job whose files
        have expired publishes them again under new names with a new expiry, as long as the
        rendered files are still on disk (a gateway's status is where fresh URLs come from).
    :param keepalive_interval: Seconds between ``: keep-alive`` comments on the synchronous
        endpoint (default 1).
    :param fetch_timeout: Seconds to fetch each input image (default 20).
    :param max_videos: Largest ``n`` one job renders (default 8).
    :param credits: The starting balance that ``GET /v1/credits`` reports (default 1,000,000, so
        that it never runs out in practice). Each billed start or synchronous generation draws
        ``price_per_second`` times its seconds of video (duration times ``n``) down at once, when it
        is accepted (an idempotent replay bills nothing). The protocol documents no error for an
        empty balance, so none is invented: starts are still accepted and the balance goes negative.
    :param price_per_second: Price of one second of video (default 0.05).
    :param callback_attempts: Deliveries tried for each callback (a start with ``callbackUrl``)
        before giving up (default 5): a connection error, a timeout or any answer but 2xx is
        tried again (redirects are not followed).
    :param callback_backoff: Seconds before the second delivery, doubled before each next one
        (default 1).
    :param callback_timeout: Seconds each delivery may take (default 10).
    """

    api_key: str | None = field(default=None, repr=False)
    latency: float = 3.0
    latency_spread: LatencySpread = field(default_factory=LatencySpread)
    faults: FaultSpec = field(default_factory=FaultSpec)
    results: ResultDelivery = "base64"
    render_workers: int = 1
    public_url: str | None = None
    files_dir: str | None = None
    file_ttl: float = 3600.0
    keepalive_interval: float = 1.0
    fetch_timeout: float = 20.0
    max_videos: int = 8
    credits: Decimal = DEFAULT_CREDITS
    price_per_second: Decimal = DEFAULT_PRICE_PER_SECOND
    callback_attempts: int = 5
    callback_backoff: float = 1.0
    callback_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.latency < 0:
            raise ValueError(f"latency must be 0 or more seconds, got {self.latency}")
        if self.results not in ("url", "base64", "uploaded"):
            raise ValueError(f"results must be 'url', 'base64' or 'uploaded', got {self.results!r}")
        if self.render_workers < 1:
            raise ValueError(f"render_workers must be at least 1, got {self.render_workers}")
        if self.file_ttl <= 0:
            raise ValueError(f"file_ttl must be more than 0 seconds, got {self.file_ttl}")
        if self.keepalive_interval <= 0:
            raise ValueError(f"keepalive_interval must be more than 0 seconds, got {self.keepalive_interval}")
        if self.price_per_second < 0:
            raise ValueError(f"price_per_second must be 0 or more, got {self.price_per_second}")
        if self.callback_attempts < 1:
            raise ValueError(f"callback_attempts must be at least 1, got {self.callback_attempts}")
        if self.callback_backoff < 0 or self.callback_timeout <= 0:
            raise ValueError("callback_backoff must be 0 or more and callback_timeout more than 0 seconds")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be empty (use None to accept any key)")
