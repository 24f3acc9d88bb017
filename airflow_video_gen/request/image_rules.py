"""The image checks a family's data asks for: a start image where one is required, image URLs
where the family takes no image data, and (with the bytes at hand) the family's documented image
requirements on the start and end frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_video_gen.families import GATEWAY
from airflow_video_gen.families.base import END_FRAME, REFERENCE_IMAGES, Family, Requires
from airflow_video_gen.request.errors import allowed_text
from airflow_video_gen.request.images import ImageInputError

if TYPE_CHECKING:
    from airflow_video_gen.request.checks import Check


def check_start_image(check: Check) -> None:
    """``prompt.image`` is required, except where reference images alone may drive the video."""
    fam = check.family
    if (
        fam is GATEWAY
        or "prompt.image" in check.images
        or any(e.param == "prompt.image" for e in check.errors)
    ):
        return
    references = fam.part(REFERENCE_IMAGES)
    alone: list[str] = []
    if references is not None:
        if getattr(check.options, references.name) and check.spec.capabilities >= _requires(
            fam, references.name
        ):
            return
        alone = [m.id for m in fam.models.values() if m.capabilities >= _requires(fam, references.name)]
    also = f" (only {', '.join(alone)} can work from reference images alone)" if alone else ""
    check.error("prompt.image", f"a start image is required by {check.model}{also}")


def _requires(family: Family, name: str) -> frozenset[str]:
    info = family.options_model.model_fields[name]
    return frozenset(m.capability for m in info.metadata if isinstance(m, Requires))


def checked_image_params(family: Family) -> tuple[str, ...]:
    """The images the family's image rules apply to: the start frame and the end frame."""
    end = family.part(END_FRAME)
    return ("prompt.image", *((f"providerOptions.{family.provider_key}.{end.wire}",) if end else ()))


def check_images(check: Check) -> None:
    """The family's image rules on every image of ``check`` (URL-only; and, with ``decode``, on the
    bytes: decodable, format, size, sides, aspect). Public so that staging checks an image with the
    very same rules."""
    fam = check.family
    for param, source in check.images.items():
        if fam.url_only_images and source.kind in ("bytes", "path"):
            what = "a local file" if source.kind == "path" else "image data"
            check.error(
                param,
                f"{fam.label} takes image URLs only, not {what} ({source.origin}); stage it to S3 "
                f"with StageImageOperator or pass an s3:// URI (model {check.model})",
            )
        elif check.decode and source.data is not None:
            try:
                source.probe  # noqa: B018 - reading it decodes the header
            except ImageInputError as exc:
                check.error(param, f"{exc} (model {check.model})")
    rules = fam.image_rules
    if rules is None or not check.decode:
        return
    probes = check.probes()
    for param in checked_image_params(fam):
        image, probe = check.images.get(param), probes.get(param)
        if image is None or probe is None or image.data is None:
            continue
        size = check.sizes.get(param, len(image.data))
        if probe.format not in rules.formats:
            check.error(
                param,
                f"{probe.format} is not accepted by {check.model}; allowed formats: "
                f"{allowed_text(sorted(rules.formats))} ({rules.label})",
            )
        if size > rules.max_bytes:
            check.error(
                param, f"is {size:,} bytes; {check.model} accepts at most {rules.max_bytes:,} ({rules.label})"
            )
        if min(probe.width, probe.height) < rules.min_side:
            check.error(
                param,
                f"is {probe.width}x{probe.height} px; {check.model} needs at least {rules.min_side} px "
                f"on each side ({rules.label})",
            )
        aspect = probe.width / probe.height
        if not rules.min_aspect <= aspect <= rules.max_aspect:
            check.error(
                param,
                f"aspect ratio {aspect:.2f} (width/height) is outside {rules.min_aspect:.2f} to "
                f"{rules.max_aspect:.2f} for {check.model} ({rules.label})",
            )
