"""The ``airflow-video-gen`` command.

Subcommands live in :data:`COMMANDS`: each names a function that adds its arguments to its parser
and a function that runs it with the parsed arguments and returns the exit code. Adding one is one
entry there.

``airflow-video-gen emulator`` serves a local AI Gateway on ``http://127.0.0.1:8090/v4/ai``; see
:mod:`airflow_video_gen.devtools.emulator.app`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_video_gen.utils.archive_records import human_size

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_video_gen.utils.archive_records import RunVideos

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
        # Airflow logs to stdout; the list is the command's output, the log lines go to stderr.
        with contextlib.redirect_stdout(sys.stderr):
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


def _videos_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dag_id", help="the DAG whose archived videos to list")
    parser.add_argument("run_id", nargs="?", help="the run (default: the DAG's latest run)")
    parser.add_argument(
        "--download",
        metavar="DIR",
        help="also fetch each video and its contact sheet into DIR/<run_id>/ (default: list only)",
    )
    parser.add_argument(
        "--aws-conn-id", default="aws_default", help="Airflow connection of S3, for --download"
    )
    parser.add_argument("--json", action="store_true", help="print the videos as JSON, for scripts")


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    """Rows in columns two spaces apart; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]))


def _run_videos(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from sqlalchemy.exc import SQLAlchemyError

    from airflow_video_gen.utils.archive_records import NoSuchRunError, archived_videos

    try:
        run = archived_videos(args.dag_id, args.run_id)
    except NoSuchRunError as exc:
        print(f"airflow-video-gen videos: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(
            f"airflow-video-gen videos: cannot read Airflow's metadata database ({reason}). Run it where "
            "Airflow is configured (the AIRFLOW_HOME and [database] sql_alchemy_conn of your scheduler), "
            "after airflow db migrate",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(dataclasses.asdict(run)))
    else:
        count = f"{len(run.videos)} video{'' if len(run.videos) == 1 else 's'}"
        print(f"DAG {run.dag_id}, run {run.run_id} ({run.state}): {count}")
        if run.videos:
            _print_table(
                [("TASK", "MODEL", "SIZE", "SHA256", "S3 URI")]
                + [(v.task_label, v.model, human_size(v.size), v.sha256[:12], v.s3_uri) for v in run.videos]
            )
    if not run.videos:
        print(
            f"airflow-video-gen videos: run {run.run_id} of {run.dag_id} ({run.state}) has no archived "
            "videos: no task of it returned an ArchiveVideoOperator record (yet). Pass another RUN_ID "
            f"(airflow dags list-runs {run.dag_id})",
            file=sys.stderr,
        )
        return 1
    if args.download:
        from pathlib import Path

        return _download_videos(run, Path(args.download), args.aws_conn_id)
    return 0


def _download_videos(run: RunVideos, folder: Path, aws_conn_id: str) -> int:
    """Each video (its sha256 checked) and its contact sheet into ``folder/<run_id>/``; 1 on any failure."""
    import os
    import re

    from boto3.exceptions import S3TransferFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    from airflow_video_gen.operators.join import file_sha256
    from airflow_video_gen.utils.s3 import parse_s3_uri, s3_hook

    # Run ids are [A-Za-z0-9_.~:+-] unless a deployment allows more: never a separator or "..".
    name = re.sub(r"[^\w.~:+-]", "_", run.run_id)
    target = folder / (name if name.strip(".") else "_")
    target.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(sys.stderr):  # Airflow's log lines are not the command's output
        client: Any = s3_hook(aws_conn_id).get_conn()
    failed = 0
    for video in run.videos:
        label = video.task_id if video.map_index < 0 else f"{video.task_id}-{video.map_index}"
        for uri, sha256 in ((video.s3_uri, video.sha256), (video.contact_sheet_s3_uri, None)):
            if not uri:
                continue
            bucket, key = parse_s3_uri(uri)
            path = target / f"{label}-{key.rsplit('/', 1)[-1]}"
            if sha256 and path.is_file() and file_sha256(path) == sha256:
                print(f"{path}: already there (sha256 {sha256[:12]})")
                continue
            partial = path.with_name(path.name + ".part")
            try:
                client.download_file(bucket, key, str(partial))
            except (ClientError, BotoCoreError, S3TransferFailedError) as exc:
                partial.unlink(missing_ok=True)
                print(f"airflow-video-gen videos: {_download_error(uri, aws_conn_id, exc)}", file=sys.stderr)
                failed += 1
                continue
            if sha256 and (got := file_sha256(partial)) != sha256:
                partial.unlink()
                print(
                    f"airflow-video-gen videos: {uri} now holds other bytes (sha256 {got[:12]}, the archive "
                    f"recorded {sha256[:12]}): it was replaced after the run; not saved",
                    file=sys.stderr,
                )
                failed += 1
                continue
            os.replace(partial, path)
            checked = ", sha256 checked" if sha256 else ""
            print(f"{path}: {human_size(path.stat().st_size)}{checked}")
    return 1 if failed else 0


def _download_error(uri: str, aws_conn_id: str, exc: Exception) -> str:
    from botocore.exceptions import NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return (
            f"cannot read {uri}: connection {aws_conn_id!r} gives no AWS credentials; define it "
            "(AIRFLOW_CONN_AWS_DEFAULT or airflow connections add) or pass --aws-conn-id"
        )
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    if code in ("404", "NoSuchKey", "NotFound"):
        return f"{uri} does not exist (connection {aws_conn_id!r}): it was deleted or moved after the run"
    if code in ("403", "AccessDenied"):
        return (
            f"S3 refused {uri} to connection {aws_conn_id!r} ({code}): it needs s3:GetObject on the "
            "bucket; pass --aws-conn-id for another connection"
        )
    return f"could not download {uri} with connection {aws_conn_id!r}: {exc}"


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
    "videos": Command(
        help="list the videos a DAG run archived (and download them with --download)",
        add_arguments=_videos_arguments,
        run=_run_videos,
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
