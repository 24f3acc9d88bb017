"""OpenLineage datasets of the operators: the images in, the staged images, videos and records out.

Datasets are named as the amazon provider's S3 operators name them: an S3 object is namespace
``s3://<bucket>``, name ``<key>``. An http(s) image is namespace ``<scheme>://<host>[:<port>]``, name
its path (never its query: a presigned URL's signature is a credential); a local file is namespace
``file``, name its path. Images given as bytes, base64 or a data URL have no name to give and are
left out.

Each operator records, while it runs, the sources it read and the objects it wrote
(:meth:`LineageMixin.record_lineage`, a few strings); the OpenLineage provider's listener asks for
them when the task ends. The provider is imported only then, so nothing here needs it installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_video_gen.utils.s3 import is_prefix

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

__all__ = [
    "LineageMixin",
    "archived_objects",
    "dataset_name",
    "image_inputs",
    "image_sources",
    "object_named",
]


def dataset_name(source: str) -> tuple[str, str] | None:
    """The OpenLineage ``(namespace, name)`` of an image source or a stored object.

    :param source: An ``s3://bucket/key`` URI, an ``http(s)://`` URL (its query, credentials and
        fragment are dropped), a local path as an image source's origin names it (``path:<path>``)
        or a ``file://`` URL.
    :return: ``None`` for sources without a name (``bytes``, ``base64``, ``data-url``).
    """
    if source.startswith("s3://"):
        bucket, _, key = source[len("s3://") :].partition("/")
        return (f"s3://{bucket}", key or "/") if bucket else None
    if source.startswith("path:"):
        return ("file", source[len("path:") :]) if len(source) > len("path:") else None
    parts = urlsplit(source)
    if parts.scheme == "file" and parts.path:
        return "file", parts.path
    if parts.scheme in ("http", "https") and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}", parts.path.lstrip("/") or "/"
    return None


def object_named(uri: Any) -> list[str]:
    """``[uri]`` when ``uri`` names one S3 object; ``[]`` for a prefix or an invalid URI (refused with
    its message when the task runs). For the outputs of :meth:`LineageMixin.lineage_at_start`."""
    with suppress(ValueError):
        if not is_prefix(str(uri)):
            return [str(uri)]
    return []


def image_sources(request: Any, path: str = "") -> list[dict[str, Any]]:
    """The input images a submission's ``request`` names: ``{"param", "source", "size"?, "sha256"?}``.

    :param request: The ``request`` of a submit task's XCom (images described by their source).
    :param path: Where ``request`` sits in the whole request (for the ``param`` of each image).
    """
    found: list[dict[str, Any]] = []
    if isinstance(request, Mapping):
        if isinstance(request.get("source"), str):
            return [{"param": path or "image", **request}]
        for key, item in request.items():
            found += image_sources(item, f"{path}.{key}" if path else str(key))
    elif isinstance(request, list):
        for i, item in enumerate(request):
            found += image_sources(item, f"{path}[{i}]")
    return found


def image_inputs(request: Any) -> list[str]:
    """The sources of the images a submission's ``request`` names, for :func:`dataset_name`."""
    return [image["source"] for image in image_sources(request)]


def archived_objects(record: Mapping[str, Any]) -> list[str]:
    """The S3 objects an archive record names: each video, its sidecar and contact sheet, and the
    last frame (a video delivered elsewhere has only its sidecar here)."""
    uris = [
        video.get(field)
        for video in record.get("videos") or []
        if isinstance(video, Mapping)
        for field in ("s3_uri", "sidecar_s3_uri", "contact_sheet_s3_uri")
    ]
    uris.append(record.get("last_frame_s3_uri"))
    return [uri for uri in uris if isinstance(uri, str)]


def _datasets(sources: Iterable[str]) -> list[Any]:
    """OpenLineage datasets of ``sources``, in order, each named once."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    names: dict[tuple[str, str], None] = {}
    for source in sources:
        name = dataset_name(source)
        if name is not None:
            names.setdefault(name)
    return [Dataset(namespace=namespace, name=name) for namespace, name in names]


class LineageMixin:
    """OpenLineage facets of what a task read and wrote, for the OpenLineage provider's listener.

    An operator calls :meth:`record_lineage` as it reads its inputs and writes its outputs; the
    listener calls :meth:`get_openlineage_facets_on_complete` when the task ends (and, when it
    failed, for what it did before failing). An operator whose inputs are known from its
    parameters alone overrides :meth:`lineage_at_start` for the event sent when the task starts.
    """

    _lineage_inputs: tuple[str, ...] = ()
    _lineage_outputs: tuple[str, ...] = ()

    def record_lineage(self, *, inputs: Iterable[str] = (), outputs: Iterable[str] = ()) -> None:
        """Add sources read and objects written (see :func:`dataset_name` for the forms named)."""
        self._lineage_inputs = (*self._lineage_inputs, *inputs)
        self._lineage_outputs = (*self._lineage_outputs, *outputs)

    def record_images(self, request: Any) -> None:
        """Add the images a submission's ``request`` description names as inputs."""
        self.record_lineage(inputs=image_inputs(request))

    def lineage_at_start(self) -> tuple[list[str], list[str]]:
        """The inputs and outputs known from the rendered parameters before the task runs (default:
        none known)."""
        return [], []

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """The datasets known before running (:meth:`lineage_at_start`)."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        inputs, outputs = self.lineage_at_start()
        return OperatorLineage(inputs=_datasets(inputs), outputs=_datasets(outputs))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """The datasets this task read and wrote (:meth:`record_lineage`).

        :param task_instance: The task instance that ended (not read: this process ran the task).
        """
        from airflow.providers.openlineage.extractors import OperatorLineage

        return OperatorLineage(
            inputs=_datasets(self._lineage_inputs), outputs=_datasets(self._lineage_outputs)
        )
