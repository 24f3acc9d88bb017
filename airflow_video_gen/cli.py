"""The ``airflow-video-gen`` command.

Subcommands live in :data:`COMMANDS`: each names a function that adds its arguments to its parser
and a function that runs it with the parsed arguments and returns the exit code. Adding one is one
entry there.

``airflow-video-gen emulator --host 127.0.0.1 --port 8080`` serves a local AI Gateway; see
:mod:`airflow_video_gen.devtools.emulator.app`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


class Command(NamedTuple):
    """One subcommand.

    :param help: One line for ``--help``.
    :param add_arguments: Adds the subcommand's arguments to its parser.
    :param run: Runs it; returns the process exit code.
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _positive_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _emulator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--api-key", default=None, help="the only API key accepted (default: any non-empty bearer token)"
    )
    parser.add_argument(
        "--latency", type=_positive_float, default=3.0, help="seconds each job takes at least (default 3)"
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="faults to inject, e.g. 'start.429=0.1,status.drop=0.05,job.error=0.1,seed=7' "
        "(grammar: airflow_video_gen.devtools.emulator.faults)",
    )
    parser.add_argument(
        "--results", choices=("url", "base64"), default="url", help="how videos are returned (default url)"
    )
    parser.add_argument("--render-workers", type=int, default=1, help="render processes (default 1)")
    parser.add_argument(
        "--public-url", default=None, help="root URL of result file links (default: the URL called)"
    )
    parser.add_argument(
        "--file-ttl",
        type=_positive_float,
        default=3600.0,
        help="seconds result files stay downloadable (default 3600)",
    )
    parser.add_argument(
        "--files-dir", default=None, help="directory for rendered files (default: a temporary one)"
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server log level (default warning)",
    )


def _run_emulator(args: argparse.Namespace) -> int:
    # Imported here so that other subcommands do not pay for the server's imports.
    import uvicorn

    from airflow_video_gen.devtools.emulator.app import BASE_PATH, create_app
    from airflow_video_gen.devtools.emulator.faults import FaultSpec, FaultSpecError
    from airflow_video_gen.devtools.emulator.settings import EmulatorSettings

    try:
        settings = EmulatorSettings(
            api_key=args.api_key,
            latency=args.latency,
            faults=FaultSpec.parse(args.faults),
            results=args.results,
            render_workers=args.render_workers,
            public_url=args.public_url,
            files_dir=args.files_dir,
            file_ttl=args.file_ttl,
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


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    from airflow_video_gen.devtools.demo import DEFAULT_MODELS

    parser.add_argument("--dags", default="dags", help="folder of the flagship DAG (default ./dags)")
    parser.add_argument("--home", default=".airflow", help="AIRFLOW_HOME of the demo (default ./.airflow)")
    parser.add_argument("--out", default="out", help="where videos and contact sheets go (default ./out)")
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        help=f"model to use (repeatable; default {', '.join(DEFAULT_MODELS)})",
    )
    parser.add_argument(
        "--latency", type=_positive_float, default=3.0, help="seconds per generation (default 3)"
    )


def _run_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from airflow_video_gen.devtools.demo import DEFAULT_MODELS, run_demo

    return run_demo(
        dags_folder=Path(args.dags),
        home=Path(args.home),
        out_dir=Path(args.out),
        models=args.models or DEFAULT_MODELS,
        latency=args.latency,
    )


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="gateway model id, e.g. klingai/kling-v2.6-i2v")
    parser.add_argument("call", help="the generateVideo arguments as JSON, or @file.json")


def _run_check(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from airflow_video_gen.models import InvalidVideoRequest, VideoRequest
    from airflow_video_gen.protocol import redact_body

    text = Path(args.call[1:]).read_text() if args.call.startswith("@") else args.call
    try:
        request = VideoRequest.from_sdk_call(args.model, json.loads(text))
    except json.JSONDecodeError as exc:
        print(f"airflow-video-gen check: the call is not JSON: {exc}", file=sys.stderr)
        return 2
    except InvalidVideoRequest as exc:
        print(exc, file=sys.stderr)
        return 1
    for warning in request.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    body = request.to_gateway_body() if not request.s3_uris() else request.describe()
    print(json.dumps(redact_body(body), indent=2))
    return 0


#: Subcommands by name.
COMMANDS: dict[str, Command] = {
    "emulator": Command(
        help="serve a local AI Gateway that renders real videos",
        add_arguments=_emulator_arguments,
        run=_run_emulator,
    ),
    "demo": Command(
        help="run the flagship pipeline on a local Airflow, emulator and S3; videos land in ./out",
        add_arguments=_demo_arguments,
        run=_run_demo,
    ),
    "check": Command(
        help="check a request against the model's documented limits and print its wire body",
        add_arguments=_check_arguments,
        run=_run_check,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="airflow-video-gen", description="Image-to-video generation through AI Gateway, for Airflow."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    :param argv: Arguments without the program name (default ``sys.argv[1:]``).
    :return: The exit code.
    """
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
