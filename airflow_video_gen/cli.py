"""The ``airflow-video-gen`` command.

Subcommands live in :data:`COMMANDS`: each names a function that adds its arguments to its parser
and a function that runs it with the parsed arguments and returns the exit code. Adding one is one
entry there.

``airflow-video-gen emulator --host 127.0.0.1 --port 8080`` serves a local AI Gateway; see
:mod:`airflow_video_gen.devtools.emulator.app`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

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


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: VALUE)`` to each option's help, unless the help already states its default
    (as it must where the value is ``None`` or empty and means something, e.g. "a temporary one")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, "") or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


#: The modules each tooling subcommand needs beyond the runtime, by the extra that installs them.
_EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "emulator": ("numpy", "starlette", "uvicorn"),
    "demo": ("numpy", "starlette", "uvicorn", "moto.server"),
}


def _missing_extra(command: str, extra: str) -> str | None:
    """``None`` when the modules of ``extra`` import, else the one line that says how to install them.

    Checked before starting anything: the demo runs the emulator and moto in subprocesses, where an
    ``ImportError`` would surface as a server that never came up.
    """
    for module in _EXTRA_MODULES[extra]:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            missing = (exc.name or module).partition(".")[0]
            return (
                f"airflow-video-gen {command} needs the '{extra}' extra: "
                f"pip install 'airflow-video-gen[{extra}]' (missing: {missing})"
            )
    return None


def _emulator_arguments(parser: argparse.ArgumentParser) -> None:
    from airflow_video_gen.devtools.emulator.command import add_arguments

    add_arguments(parser)


def _run_emulator(args: argparse.Namespace) -> int:
    missing = _missing_extra("emulator", "emulator")
    if missing:
        print(missing, file=sys.stderr)
        return 2
    from airflow_video_gen.devtools.emulator.command import run

    return run(args)


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    from airflow_video_gen.devtools.demo import DEFAULT_MODELS

    parser.add_argument("--dags", default="dags", help="folder of the flagship DAG")
    parser.add_argument("--home", default=".airflow", help="AIRFLOW_HOME of the demo")
    parser.add_argument("--out", default="out", help="where videos and contact sheets go")
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        help=f"model to use, repeatable (default: {', '.join(DEFAULT_MODELS)})",
    )
    parser.add_argument("--latency", type=_positive_float, default=3.0, help="seconds per generation")


def _run_demo(args: argparse.Namespace) -> int:
    missing = _missing_extra("demo", "demo")
    if missing:
        print(missing, file=sys.stderr)
        return 2
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
    from airflow_video_gen.utils.redaction import redact

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
    print(json.dumps(redact(body), indent=2))
    return 0


def _models_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conn-id", default="ai_gateway_default", help="Airflow connection of the gateway")


def _run_models(args: argparse.Namespace) -> int:
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_video_gen.hooks.gateway import VideoGatewayHook
    from airflow_video_gen.protocol import GatewayError

    hook = VideoGatewayHook(args.conn_id)
    try:
        models = hook.list_models("video")
    except (GatewayError, AirflowNotFoundException) as exc:
        print(f"airflow-video-gen models: {exc}", file=sys.stderr)
        return 1
    finally:
        hook.close()
    width = max((len(m.id) for m in models), default=0)
    for model in models:
        print(f"{model.id:<{width}}  {model.description or ''}".rstrip())
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
    "models": Command(
        help="list the video models the gateway of an Airflow connection serves",
        add_arguments=_models_arguments,
        run=_run_models,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="airflow-video-gen", description="Image-to-video generation through AI Gateway, for Airflow."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(
            name, help=command.help, description=command.help, formatter_class=_HelpFormatter
        )
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
