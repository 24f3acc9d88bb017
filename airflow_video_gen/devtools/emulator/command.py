"""``airflow-video-gen emulator``: its options, and the server run with uvicorn.

The console script (:mod:`airflow_video_gen.cli`) adds these options to its ``emulator``
subcommand once it knows the ``emulator`` extra is installed; ``python -m
airflow_video_gen.devtools.emulator`` runs the same.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

#: The port served on by default: one no Airflow component uses (the api-server listens on 8080,
#: the worker and triggerer log servers on 8793 and 8794, Flower on 5555, StatsD on 8125), so the
#: emulator and a local Airflow run side by side with their defaults.
DEFAULT_PORT = 8090


def positive_float(text: str) -> float:
    """An argparse type: a number, 0 or more."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def amount(text: str) -> Decimal:
    """An argparse type: a decimal amount of credits, 0 or more (``12.50``)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"must be a decimal amount such as 12.50, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``airflow-video-gen emulator``."""
    parser.add_argument(
        "--family-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, so the families it registers (families.register_family) are "
        "served too; repeatable (default: none)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on; 0 picks a free one"
    )
    parser.add_argument(
        "--api-key", default=None, help="the only API key accepted (default: any non-empty bearer token)"
    )
    parser.add_argument("--latency", type=positive_float, default=3.0, help="seconds each job takes at least")
    parser.add_argument(
        "--latency-spread",
        default="",
        metavar="SPEC",
        help="per model, a range each job's latency is drawn from in place of --latency, e.g. "
        "'klingai/kling-v2.6-i2v=70-90,*=40-120,seed=7' (grammar: "
        "airflow_video_gen.devtools.emulator.latencies) (default: none)",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="faults to inject, e.g. 'start.429=0.1,status.drop=0.05,job.error=0.1,seed=7' "
        "(grammar: airflow_video_gen.devtools.emulator.faults) (default: none)",
    )
    parser.add_argument(
        "--results",
        choices=("base64", "url", "uploaded"),
        default="base64",
        help="how videos are returned: 'base64', the MP4 inline in the answer (the official AI SDK "
        "client refuses to download from loopback and private addresses, so it cannot fetch a local "
        "emulator's links), 'url', links under /files/ that a client downloads, or 'uploaded', "
        "entries saying the videos were delivered to the team's upload destination (no bytes)",
    )
    parser.add_argument("--render-workers", type=int, default=1, help="render processes")
    parser.add_argument(
        "--public-url", default=None, help="root URL of result file links (default: the URL called)"
    )
    parser.add_argument(
        "--file-ttl", type=positive_float, default=3600.0, help="seconds result files stay downloadable"
    )
    parser.add_argument(
        "--files-dir", default=None, help="directory for rendered files (default: a temporary one)"
    )
    parser.add_argument(
        "--credits",
        type=amount,
        default=Decimal("1000000"),
        metavar="AMOUNT",
        help="starting balance served at GET /v1/credits; every billed start draws it down by "
        "--price-per-second times the seconds of video asked for, and it may go negative (the "
        "protocol documents no error for an empty balance)",
    )
    parser.add_argument(
        "--price-per-second",
        type=amount,
        default=Decimal("0.05"),
        metavar="AMOUNT",
        help="price of one second of generated video",
    )
    parser.add_argument(
        "--callback-attempts",
        type=int,
        default=5,
        help="deliveries tried for each callback (a start with callbackUrl) before giving up",
    )
    parser.add_argument(
        "--callback-backoff",
        type=positive_float,
        default=1.0,
        help="seconds before a callback's second delivery, doubled before each next one",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server log level",
    )


def run(args: argparse.Namespace) -> int:
    """Serve the emulator until interrupted; the exit code."""
    # Imported here so that other subcommands do not pay for the server's imports.
    import importlib

    import uvicorn

    for module in args.family_module:
        importlib.import_module(module)

    from airflow_video_gen.devtools.emulator.app import BASE_PATH, create_app
    from airflow_video_gen.devtools.emulator.faults import FaultSpec, FaultSpecError
    from airflow_video_gen.devtools.emulator.latencies import LatencySpread
    from airflow_video_gen.devtools.emulator.settings import EmulatorSettings

    try:
        settings = EmulatorSettings(
            api_key=args.api_key,
            latency=args.latency,
            latency_spread=LatencySpread.parse(args.latency_spread),
            faults=FaultSpec.parse(args.faults),
            results=args.results,
            render_workers=args.render_workers,
            public_url=args.public_url,
            files_dir=args.files_dir,
            file_ttl=args.file_ttl,
            credits=args.credits,
            price_per_second=args.price_per_second,
            callback_attempts=args.callback_attempts,
            callback_backoff=args.callback_backoff,
        )
    except (FaultSpecError, ValueError) as exc:
        print(f"airflow-video-gen emulator: {exc}", file=sys.stderr)
        return 2

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                port = self.servers[0].sockets[0].getsockname()[1] if self.servers else args.port
                print(f"AI Gateway emulator listening on http://{args.host}:{port}{BASE_PATH}", flush=True)

    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        loop="auto",
        http="auto",
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    server = _Server(config)
    server.run()
    return 0 if server.started else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m airflow_video_gen.devtools.emulator [options]``."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_video_gen.devtools.emulator",
        description="serve a local AI Gateway that renders real videos",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
