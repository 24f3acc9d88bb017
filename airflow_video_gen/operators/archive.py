"""ArchiveVideoOperator: finished videos streamed from the gateway into S3, with their provenance.

Each video goes straight from the gateway's download into an S3 multipart upload (a few parts
sent at once while the download goes on; never the whole file), hashed on the way. Next to it: a
JSON sidecar saying where it came from and a contact-sheet PNG, decoded with PyAV from the stored
object by ranged reads. An Airflow Asset event is emitted per video, so downstream DAGs can run on new videos.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from datetime import datetime, timezone
from functools import cached_property, partial
from typing import Any

from airflow.sdk import Asset, AssetAlias, BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.exceptions import BotoCoreError, ClientError

from airflow_video_gen.failures import gateway_failure, s3_failure
from airflow_video_gen.families import family_for_model
from airflow_video_gen.families.base import LAST_FRAME_METADATA, RETURN_LAST_FRAME
from airflow_video_gen.hooks.gateway import DEFAULT_MAX_VIDEO_BYTES, VideoGatewayHook
from airflow_video_gen.operators.archive_index import key_segment, write_index
from airflow_video_gen.operators.lineage import (
    LineageMixin,
    archived_objects,
    image_inputs,
    image_sources,
)
from airflow_video_gen.protocol import GatewayError, NotFoundError, VideoTooLargeError
from airflow_video_gen.request.images import MAX_IMAGE_BYTES
from airflow_video_gen.utils.gallery_links import ArchivedVideosS3Link, VideoGalleryLink
from airflow_video_gen.utils.media import VideoReadError, contact_sheet
from airflow_video_gen.utils.redaction import redact, redact_url
from airflow_video_gen.utils.s3 import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PART_SIZE,
    S3ConflictError,
    S3ObjectReader,
    StoreResult,
    check_max_concurrency,
    check_part_size,
    head_object,
    join_uri,
    parse_s3_uri,
    put_bytes,
    s3_hook,
    store_stream,
)
from airflow_video_gen.waiting import follow_connection

#: The asset alias archived videos are announced through (``schedule=[AssetAlias(...)]``).
DEFAULT_ASSET_ALIAS = "ai_gateway_videos"
SIDECAR_SCHEMA = "airflow-video-gen/archive/1"
EXTENSIONS = {
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
}


def videos_asset(alias: str) -> Asset:
    """The asset whose events announce archived videos through ``alias``: one asset for all of
    them (named like the alias), declared as an outlet of the archive task so that Airflow creates
    and activates it when the DAG is parsed. Each video is an event of it, its ``s3_uri`` in the
    event's extra; a new asset per video would leave Airflow to create each one at run time
    (logging that it was not found and is inactive) and grow the list of assets the scheduler
    reads to evaluate a DAG scheduled on the alias."""
    return Asset(name=alias)


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, (int, float)):
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def reused_record(generation: Any) -> dict[str, Any] | None:
    """The archive record a submit task with ``skip_if_archived`` found, marked ``reused``; ``None``
    for a generation to archive."""
    if (
        isinstance(generation, Mapping)
        and generation.get("reused")
        and isinstance(generation.get("archived"), Mapping)
    ):
        return {**generation["archived"], "reused": True}
    return None


def check_generation(generation: Any) -> dict[str, Any]:
    """The sensor's XCom, checked: a completed generation with its model, operation and videos."""
    if isinstance(generation, str):
        with suppress(ValueError):
            generation = json.loads(generation)
    if not isinstance(generation, Mapping) or not {"model", "operation", "videos"} <= set(generation):
        raise AirflowFailException(
            "generation must be the XCom of a generation sensor (a dict with 'model', 'operation' and "
            f"'videos'); got {type(generation).__name__}"
        )
    if generation.get("status", "completed") != "completed":
        raise AirflowFailException(f"generation is {generation.get('status')!r}, not 'completed'")
    if not isinstance(generation["videos"], list) or not generation["videos"]:
        raise AirflowFailException(f"generation of {generation['model']} has no videos to archive")
    return dict(generation)


class ArchiveVideoOperator(LineageMixin, BaseOperator):
    """Archives the videos of a completed generation to S3, streamed, with provenance.

    For each video: ``video-<i>.<ext>`` (its sha256 in the object's tags), ``video-<i>.json``
    (the sidecar: model, prompt, parameters, operation, idempotency key, timings, warnings,
    provider metadata, source images, size and sha256, what PyAV reads of the video) and
    ``video-<i>-contact.png``, all under ``<dest_s3_uri><model>/<idempotency key>/``. A last frame
    returned on request (Seedance ``returnLastFrame``) goes to ``last-frame.png`` beside them.

    Re-running is safe: an object that already holds the same bytes is left alone; different bytes
    fail the task unless ``overwrite``. A failed or interrupted upload is aborted, so no half object
    is ever visible (pending uploads left by a killed worker are aborted by the next try).

    A video URL that has expired is asked for again with one more status call; a video the
    gateway delivered to the team's own upload destination (``{"type": "uploaded"}``) has no bytes
    to fetch: only its sidecar is written, saying ``"delivered": "uploaded"``.

    The result is also written to ``<dest_s3_uri><model>/requests/<fingerprint>.json``, the index a
    submit task with ``skip_if_archived`` reads (:mod:`~airflow_video_gen.operators.archive_index`).
    Given such a task's reused submission, archive returns the record it found, marked
    ``"reused": True``, and stores nothing.

    Returns ``{"videos": [{"s3_uri", "size", "sha256", "media_type", "sidecar_s3_uri",
    "contact_sheet_s3_uri", "delivered_elsewhere"}], "model", "idempotency_key", "aws_conn_id"}``
    plus ``"last_frame_s3_uri"`` when the generation returned a last frame. A video delivered
    elsewhere is listed with ``"s3_uri": None`` and ``"delivered_elsewhere": True``.

    The task shows two extra links: ``Video``, its page in the gallery of Airflow's UI, and
    ``S3``, the archived objects in the AWS console (on the connection's own endpoint when it has
    an ``endpoint_url``).

    :param generation: The generation sensor's XCom (``wait.output``). Base64 videos are listed
        there by size only; their bytes are read again from the gateway (status is safe to
        repeat). Templated.
    :param dest_s3_uri: An ``s3://bucket/prefix/`` prefix (ending in ``/``). Templated.
    :param overwrite: Replace objects that hold different bytes (default ``False``: fail).
    :param max_video_bytes: Refuse videos larger than this (default 4 GiB).
    :param part_size: Bytes per multipart part (default 8 MiB; at least 5 MiB).
    :param max_concurrency: Parts uploaded at once while the download goes on (default 4; 1 to
        16). An upload holds about ``part_size * (max_concurrency + 1)`` bytes in memory (40 MiB by
        default).
    :param contact_sheet_tiles: Frames on the contact sheet (default 12; 0 for no contact sheet).
    :param asset_alias: Name of the :class:`~airflow.sdk.AssetAlias` through which an asset event
        is emitted for each archived video, on the asset of the same name (:func:`videos_asset`);
        the event's extra holds the video's ``s3_uri``, sha256, size, media type, model,
        idempotency key and sidecar. Default ``"ai_gateway_videos"``; ``None`` for none.
    :param aws_conn_id: The AWS connection (default ``aws_default``). Templated.
    :param gateway_conn_id: The ``ai_gateway`` connection. Default ``None``: the one the submit
        task used (the generation's ``gateway_conn_id``), else ``ai_gateway_default``. Templated.
    """

    template_fields: Sequence[str] = ("generation", "dest_s3_uri", "aws_conn_id", "gateway_conn_id")
    template_fields_renderers = {"generation": "json"}
    ui_color = "#efe3ff"
    operator_extra_links = (VideoGalleryLink(), ArchivedVideosS3Link())

    def __init__(
        self,
        *,
        generation: Any,
        dest_s3_uri: str,
        overwrite: bool = False,
        max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES,
        part_size: int = DEFAULT_PART_SIZE,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        contact_sheet_tiles: int = 12,
        asset_alias: str | None = DEFAULT_ASSET_ALIAS,
        aws_conn_id: str | None = "aws_default",
        gateway_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if asset_alias:
            outlets = [AssetAlias(asset_alias), videos_asset(asset_alias)]
            kwargs["outlets"] = [*(kwargs.get("outlets") or []), *outlets]
        super().__init__(**kwargs)
        check_part_size(part_size, max_video_bytes)
        check_max_concurrency(max_concurrency)
        if isinstance(dest_s3_uri, str) and "{{" not in dest_s3_uri:
            join_uri(dest_s3_uri, "check")
        self.generation = generation
        self.dest_s3_uri = dest_s3_uri
        self.overwrite = overwrite
        self.max_video_bytes = max_video_bytes
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self.contact_sheet_tiles = contact_sheet_tiles
        self.asset_alias = asset_alias
        self.aws_conn_id = aws_conn_id
        self.gateway_conn_id = gateway_conn_id

    # ------------------------------------------------------------------------------------- run

    def lineage_at_start(self) -> tuple[list[str], list[str]]:
        """The images the generation's request names (none for videos archived before)."""
        if reused_record(self.generation) is not None:
            return [], []
        try:
            return image_inputs(check_generation(self.generation).get("request")), []
        except AirflowFailException:
            return [], []  # refused with its message when the task runs

    def execute(self, context: Any) -> dict[str, Any]:
        reused = reused_record(self.generation)
        if reused is not None:
            self.log.info(
                "%s: this request's videos were archived before (%s); nothing new to archive",
                reused.get("model"),
                ", ".join(str(v.get("s3_uri")) for v in reused.get("videos", [])),
            )
            return reused
        result = self.archive(context)
        self._announce(context, [result])
        return result

    @cached_property
    def s3_client(self) -> Any:
        """The boto3 S3 client of ``aws_conn_id``, made once per task (a batch shares it)."""
        return s3_hook(self.aws_conn_id).get_conn()

    def archive(self, context: Any, hook: VideoGatewayHook | None = None) -> dict[str, Any]:
        """Archive the videos of ``generation``: what the task does before it announces them (a
        batch archives each of its generations with it, then announces them all).

        :param hook: The gateway hook to download with (default: one of the generation's
            connection, made and closed here).
        """
        generation = check_generation(self.generation)
        self.record_images(generation.get("request"))
        model = str(generation["model"])
        key = str(generation.get("idempotency_key") or "") or key_segment(json.dumps(generation["operation"]))
        try:
            base = join_uri(str(self.dest_s3_uri), key_segment(model), key_segment(key), "")
        except ValueError as exc:
            raise AirflowFailException(f"{type(self).__name__} dest_s3_uri: {exc}") from exc
        client = self.s3_client
        own_hook = hook is None
        hook = hook or VideoGatewayHook(follow_connection(self.gateway_conn_id, generation))
        try:
            fetched = _Fetched(hook, generation, partial(gateway_failure, self, context))
            last_frame = self._archive_last_frame(client, fetched, base, context)
            videos = [
                self._archive_video(client, fetched, generation, base, i, last_frame, context)
                for i in range(len(generation["videos"]))
            ]
        except (ClientError, BotoCoreError) as exc:
            raise s3_failure(self, context, exc, param="dest_s3_uri", uri=base) from exc
        finally:
            if own_hook:
                hook.close()
        result: dict[str, Any] = {
            "videos": videos,
            "model": model,
            "idempotency_key": key,
            "aws_conn_id": self.aws_conn_id,
        }
        if last_frame:
            result["last_frame_s3_uri"] = last_frame
        self.record_lineage(outputs=archived_objects(result))
        fingerprint = generation.get("fingerprint")
        if isinstance(fingerprint, str) and fingerprint:
            try:
                write_index(client, str(self.dest_s3_uri), fingerprint, result)
            except (ClientError, BotoCoreError) as exc:
                raise s3_failure(self, context, exc, param="dest_s3_uri", uri=base) from exc
        return result

    def _store(
        self,
        client: Any,
        hook: VideoGatewayHook,
        uri: str,
        open_chunks: Callable[[], AbstractContextManager[Iterator[bytes]]],
        media_type: str,
        context: Any,
        renew: Callable[[], Callable[[], AbstractContextManager[Iterator[bytes]]]] | None = None,
    ) -> StoreResult:
        """One stream to one object, with this package's errors turned into Airflow's.

        A download that fails for a transient reason (429, 5xx, a dropped connection, mid-stream
        too) is started again from its first byte after the hook's retry delay, as a status call
        would be; the failed try's multipart upload is aborted first, so no part is left behind.

        :param renew: Called once when the file is gone (404/410): gives the stream to try instead,
            or raises the task's exception (default ``None``: the task fails).
        """
        try:
            return hook.call_with_retries(
                lambda: store_stream(
                    client,
                    uri,
                    open_chunks,
                    content_type=media_type,
                    overwrite=self.overwrite,
                    part_size=self.part_size,
                    max_concurrency=self.max_concurrency,
                ),
                f"download for {uri}",
            )
        except S3ConflictError as exc:
            raise AirflowFailException(f"{type(self).__name__}: {exc}") from exc
        except VideoTooLargeError as exc:
            raise AirflowFailException(f"{type(self).__name__} max_video_bytes: {uri}: {exc}") from exc
        except NotFoundError as exc:
            if renew is not None:
                return self._store(client, hook, uri, renew(), media_type, context)
            raise AirflowFailException(
                f"{type(self).__name__}: the gateway no longer serves the file for {uri} ({exc}); "
                "results must be archived before they expire"
            ) from exc
        except GatewayError as exc:
            raise gateway_failure(self, context, exc, f"Download for {uri}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise s3_failure(self, context, exc, param="dest_s3_uri", uri=uri) from exc

    def _archive_last_frame(self, client: Any, fetched: _Fetched, base: str, context: Any) -> str | None:
        frame = fetched.last_frame()
        if frame is None:
            return None
        if frame.get("type") == "uploaded":
            self.log.info("The last frame was delivered to the team's upload destination; not archived")
            return None
        media_type = str(frame.get("mediaType") or "image/png")
        uri = join_uri(base, f"last-frame.{EXTENSIONS.get(media_type, 'png')}")
        stored = self._store(
            client,
            fetched.hook,
            uri,
            lambda: fetched.hook.open_video(frame, max_bytes=MAX_IMAGE_BYTES),
            media_type,
            context,
        )
        self.log.info(
            "Last frame %s: %s (%d bytes, sha256 %s)", uri, stored.outcome, stored.size, stored.sha256
        )
        return uri

    def _archive_video(
        self,
        client: Any,
        fetched: _Fetched,
        generation: dict[str, Any],
        base: str,
        index: int,
        last_frame: str | None,
        context: Any,
    ) -> dict[str, Any]:
        listed = generation["videos"][index]
        media_type = str(listed.get("mediaType") or "video/mp4")
        if listed.get("type") == "uploaded":
            return self._record_uploaded(client, fetched, generation, base, index, last_frame, context)
        uri = join_uri(base, f"video-{index}.{EXTENSIONS.get(media_type, 'mp4')}")
        video = fetched.video(index)
        where = redact_url(str(video["url"])) if video.get("type") == "url" else "inline base64"
        self.log.info("Archiving video %d of %s from %s to %s", index, generation["model"], where, uri)

        def renew() -> Callable[[], AbstractContextManager[Iterator[bytes]]]:
            nonlocal video, where
            fresh = fetched.renew(index, video)
            if fresh is None:
                raise AirflowFailException(
                    f"{type(self).__name__}: video {index} of {generation['model']} ({where}, for {uri}): "
                    "the video URL had expired and the status call gave no fresh one: the gateway no "
                    "longer serves this result. Clearing the submit task re-attaches to this completed "
                    "generation; to pay for a new one, change the request or trigger a new run (see "
                    "Regenerating a video in docs/failures.md)"
                )
            video = fresh
            where = redact_url(str(fresh["url"])) if fresh.get("type") == "url" else "inline base64"
            self.log.warning(
                "Video %d of %s: the video URL had expired; a fresh one from the status call was used (%s)",
                index,
                generation["model"],
                where,
            )
            return lambda: fetched.hook.open_video(fresh, max_bytes=self.max_video_bytes)

        stored = self._store(
            client,
            fetched.hook,
            uri,
            lambda: fetched.hook.open_video(video, max_bytes=self.max_video_bytes),
            media_type,
            context,
            renew if video.get("type") == "url" else None,
        )
        self.log.info("%s: %s (%d bytes, sha256 %s)", uri, stored.outcome, stored.size, stored.sha256)
        sidecar_uri = join_uri(base, f"video-{index}.json")
        contact_uri = join_uri(base, f"video-{index}-contact.png") if self.contact_sheet_tiles else None
        # Only a video stored before can have its sidecar and contact sheet already.
        if stored.outcome == "unchanged" and all(
            head_object(client, *parse_s3_uri(u)) is not None for u in (sidecar_uri, contact_uri) if u
        ):
            self.log.info("%s, its sidecar and contact sheet are already archived; left as they are", uri)
            return self._entry(stored, media_type, sidecar_uri, contact_uri)
        probe: dict[str, Any] = {}
        notes: list[str] = []
        try:
            sheet, video_probe = contact_sheet(
                S3ObjectReader(client, uri, start=stored.start), tiles=max(1, self.contact_sheet_tiles)
            )
            probe = video_probe.as_dict()
            if contact_uri is not None:
                put_bytes(client, contact_uri, sheet, content_type="image/png", overwrite=True)
                self.log.info("Contact sheet %s (%d bytes)", contact_uri, len(sheet))
        except VideoReadError as exc:
            notes.append(f"PyAV could not read the video: {exc}")
            self.log.warning("%s: PyAV could not read it (%s); no contact sheet", uri, exc)
            contact_uri = None
        video_facts = {"s3_uri": uri, "index": index, "size": stored.size, "sha256": stored.sha256}
        sidecar = {
            "schema": SIDECAR_SCHEMA,
            "video": {**video_facts, "media_type": media_type, "source": where, **probe},
            "contact_sheet_s3_uri": contact_uri,
            "last_frame_s3_uri": last_frame,
            **self._sidecar(generation, fetched, context),
            "notes": notes,
        }
        body = json.dumps(sidecar, indent=2, default=str).encode()
        put_bytes(client, sidecar_uri, body, content_type="application/json", overwrite=True)
        self.log.info("Sidecar %s", sidecar_uri)
        return self._entry(stored, media_type, sidecar_uri, contact_uri)

    def _record_uploaded(
        self,
        client: Any,
        fetched: _Fetched,
        generation: dict[str, Any],
        base: str,
        index: int,
        last_frame: str | None,
        context: Any,
    ) -> dict[str, Any]:
        """A video the gateway delivered to the team's upload destination: no bytes to fetch, so
        only its sidecar is written (once; a re-run leaves it as it is)."""
        listed = generation["videos"][index]
        media_type = str(listed.get("mediaType") or "video/mp4")
        sidecar_uri = join_uri(base, f"video-{index}.json")
        self.log.info(
            "Video %d of %s was delivered by the gateway to the team's upload destination; nothing to "
            "download. Recorded in %s",
            index,
            generation["model"],
            sidecar_uri,
        )
        if head_object(client, *parse_s3_uri(sidecar_uri)) is None:
            sidecar = {
                "schema": SIDECAR_SCHEMA,
                "delivered": "uploaded",
                "video": {"index": index, "media_type": media_type, "status_entry": listed},
                "contact_sheet_s3_uri": None,
                "last_frame_s3_uri": last_frame,
                **self._sidecar(generation, fetched, context),
                "notes": ["delivered by the gateway to the team's upload destination; no copy here"],
            }
            body = json.dumps(sidecar, indent=2, default=str).encode()
            put_bytes(client, sidecar_uri, body, content_type="application/json", overwrite=True)
        return {
            "s3_uri": None,
            "size": None,
            "sha256": None,
            "media_type": media_type,
            "sidecar_s3_uri": sidecar_uri,
            "contact_sheet_s3_uri": None,
            "delivered_elsewhere": True,
        }

    @staticmethod
    def _entry(stored: StoreResult, media_type: str, sidecar: str, contact: str | None) -> dict[str, Any]:
        return {
            "s3_uri": stored.uri,
            "size": stored.size,
            "sha256": stored.sha256,
            "media_type": media_type,
            "sidecar_s3_uri": sidecar,
            "contact_sheet_s3_uri": contact,
            "delivered_elsewhere": False,
        }

    def _sidecar(self, generation: dict[str, Any], fetched: _Fetched, context: Any) -> dict[str, Any]:
        """The provenance every video of the generation shares (each adds its own ``video``)."""
        request = generation.get("request") or {}
        prompt = request.get("prompt") if isinstance(request, Mapping) else None
        submitted = generation.get("submitted_at")
        elapsed = generation.get("elapsed_s")
        completed = (
            submitted + elapsed
            if isinstance(submitted, (int, float)) and isinstance(elapsed, (int, float))
            else None
        )
        ti = context.get("ti") if isinstance(context, Mapping) else None
        return {
            "model": generation.get("model"),
            "family": generation.get("family"),
            "prompt": prompt.get("text") if isinstance(prompt, Mapping) else prompt,
            "request": request,
            "operation": generation.get("operation"),
            "idempotency_key": generation.get("idempotency_key"),
            "fingerprint": generation.get("fingerprint"),
            "submitted_at": _iso(submitted),
            "completed_at": _iso(completed),
            "elapsed_s": elapsed,
            "archived_at": _iso(datetime.now(tz=timezone.utc).timestamp()),
            **fetched.credits(),
            "warnings": generation.get("warnings") or [],
            "provider_metadata": redact(fetched.provider_metadata(), strip_url_queries=True),
            "sources": image_sources(request),
            "airflow": {
                name: getattr(ti, name, None)
                for name in ("dag_id", "run_id", "task_id", "map_index", "try_number")
            }
            if ti is not None
            else None,
        }

    def _announce(self, context: Any, results: Sequence[Mapping[str, Any]]) -> None:
        """An asset event per video of ``results`` (archive records, one per generation)."""
        if not self.asset_alias:
            return
        events = context.get("outlet_events") if isinstance(context, Mapping) else None
        if events is None:
            self.log.warning("No outlet events in this context; no asset events emitted")
            return
        asset = videos_asset(self.asset_alias)
        accessor = events[AssetAlias(self.asset_alias)]
        announced = []
        for result in results:
            for video in result["videos"]:
                if video.get("delivered_elsewhere"):
                    continue
                extra = {
                    "s3_uri": video["s3_uri"],
                    "sha256": video["sha256"],
                    "size": video["size"],
                    "media_type": video["media_type"],
                    "model": result["model"],
                    "idempotency_key": result["idempotency_key"],
                    "sidecar_s3_uri": video["sidecar_s3_uri"],
                }
                accessor.add(asset, extra=extra)
                announced.append(video["s3_uri"])
        # Airflow also records one event of the declared outlet itself, without the alias: the task's
        # summary, for DAGs scheduled on the asset rather than the alias.
        summary: dict[str, Any] = {"videos": announced}
        generations = [{"model": r["model"], "idempotency_key": r["idempotency_key"]} for r in results]
        summary |= generations[0] if len(generations) == 1 else {"generations": generations}
        events[asset].extra = summary
        self.log.info(
            "Asset events for %d video(s) through alias %r (asset %r)",
            len(announced),
            self.asset_alias,
            asset.name,
        )


class _Fetched:
    """The generation's videos and metadata, with the status read again only when bytes are needed
    (base64 videos and last frames are listed in XCom by size only)."""

    def __init__(
        self,
        hook: VideoGatewayHook,
        generation: dict[str, Any],
        failure: Callable[[GatewayError, str], AirflowException],
    ) -> None:
        self.hook = hook
        self.generation = generation
        #: The task's exception for a failed call (:func:`~airflow_video_gen.waiting.gateway_failure`).
        self.failure = failure
        self._status: Any = None
        self._renewed = False
        self._credits: dict[str, Any] | None = None

    def _fresh(self) -> Any:
        if self._status is None:
            try:
                status = self.hook.status(self.generation["model"], self.generation["operation"])
            except GatewayError as exc:
                raise self.failure(exc, f"Re-reading the status of {self.generation['model']}") from exc
            if status.status != "completed" or len(status.videos) != len(self.generation["videos"]):
                raise AirflowFailException(
                    f"the gateway now reports {status.status!r} with {len(status.videos)} video(s) for "
                    f"{self.generation['model']}; expected the completed generation of the XCom"
                )
            self._status = status
        return self._status

    def video(self, index: int) -> dict[str, Any]:
        listed = self.generation["videos"][index]
        if listed.get("type") == "url" and isinstance(listed.get("url"), str):
            return dict(listed)
        return dict(self._fresh().videos[index])

    def renew(self, index: int, expired: Mapping[str, Any]) -> dict[str, Any] | None:
        """Video ``index`` from a new status call (one per task, however many URLs expired), after
        ``expired`` was gone; ``None`` when the status gives the same URL again, or no bytes."""
        if not self._renewed:
            self._renewed, self._status = True, None
        video = dict(self._fresh().videos[index])
        if video.get("type") == "base64" or (
            video.get("type") == "url" and video.get("url") != expired.get("url")
        ):
            return video
        return None

    def credits(self) -> dict[str, Any]:
        """``{"credits": {"balance_before", "balance_after"}}`` when the submit task read the balance
        (``min_balance``), else ``{}``. The balance after is read once per task; a failed read is
        logged and recorded as ``None``, since the video is archived by then."""
        before = self.generation.get("balance_before")
        if before is None:
            return {}
        if self._credits is None:
            try:
                after: str | None = str(self.hook.credits().balance)
            except GatewayError as exc:
                self.hook.log.warning(
                    "Could not read the balance after %s: %s", self.generation["model"], exc
                )
                after = None
            self._credits = {"credits": {"balance_before": before, "balance_after": after}}
        return self._credits

    def provider_metadata(self) -> dict[str, Any]:
        if self._status is not None:
            return dict(self._status.provider_metadata)
        return dict(self.generation.get("provider_metadata") or {})

    def last_frame(self) -> dict[str, Any] | None:
        """The last frame a family returns in its provider metadata when asked for one."""
        family = family_for_model(str(self.generation["model"]))
        if family is None or family.part(RETURN_LAST_FRAME) is None:
            return None

        def find(metadata: Any) -> Any:
            own = (metadata or {}).get(family.provider_key) if isinstance(metadata, Mapping) else None
            return own.get(LAST_FRAME_METADATA) if isinstance(own, Mapping) else None

        listed = find(self.generation.get("provider_metadata"))
        if not isinstance(listed, Mapping):
            return None
        if listed.get("type") == "uploaded" or (
            listed.get("type") == "url" and isinstance(listed.get("url"), str)
        ):
            return dict(listed)
        fresh = find(self._fresh().provider_metadata)
        return dict(fresh) if isinstance(fresh, Mapping) else None
