"""Fixtures shared by every test: small real images, made with Pillow."""

from __future__ import annotations

import pytest

from tests.imaging import make_image


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    return make_image()


@pytest.fixture(scope="session")
def jpeg_bytes() -> bytes:
    return make_image(fmt="JPEG")
