import io

import numpy as np
import pytest
from PIL import Image

from renderers.encode import MEDIA_TYPES, encode


@pytest.fixture
def rgba() -> np.ndarray:
    """64x64: left half transparent over random colours, right half opaque, one partial block."""
    image = np.random.default_rng(3).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    image[:, :32, 3] = 0
    image[:, 32:, 3] = 255
    image[:, 32:, :3] = 200
    image[:16, 48:, 3] = 128
    return image


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_png_round_trips_exactly(rgba):
    image = _decode(encode(rgba, "png"))
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(image), rgba)


def test_png_stays_rgba_when_fully_opaque(rgba):
    rgba[..., 3] = 255
    assert _decode(encode(rgba, "png")).mode == "RGBA"


def test_webp_keeps_alpha(rgba):
    image = _decode(encode(rgba, "webp", quality=90))
    assert image.format == "WEBP"
    assert image.mode == "RGBA"
    decoded = np.asarray(image)
    assert (decoded[:, :32, 3] == 0).all()
    assert (decoded[16:, 32:, 3] == 255).all()
    assert np.abs(decoded[24:, 36:44, :3].astype(int) - 200).max() <= 3  # away from lossy edges


@pytest.mark.parametrize("fmt", ["jpg", "jpeg"])
def test_jpeg_composites_onto_black(rgba, fmt):
    image = _decode(encode(rgba, fmt))
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    decoded = np.asarray(image).astype(int)
    assert decoded[:, :24].max() <= 2  # transparent: black, whatever the colour underneath
    assert np.abs(decoded[24:, 36:44] - 200).max() <= 3  # opaque: unchanged
    assert np.abs(decoded[:8, 52:60] - 100).max() <= 3  # alpha 128: 200 * 128 / 255


def test_media_types():
    assert MEDIA_TYPES == {"png": "image/png", "webp": "image/webp", "jpg": "image/jpeg", "jpeg": "image/jpeg"}


@pytest.mark.parametrize(
    ("image", "fmt", "quality", "message"),
    [
        (np.zeros((2, 2, 4), np.uint8), "gif", 85, "unknown image format 'gif'"),
        (np.zeros((2, 2, 4), np.uint8), "PNG", 85, "unknown image format"),
        (np.zeros((2, 2, 3), np.uint8), "png", 85, "uint8 HxWx4"),
        (np.zeros((2, 2, 4), np.float32), "png", 85, "uint8 HxWx4"),
        (np.zeros((2, 2, 4), np.uint8), "jpg", 0, "quality"),
        (np.zeros((2, 2, 4), np.uint8), "webp", 101, "quality"),
    ],
)
def test_encode_refuses(image, fmt, quality, message):
    with pytest.raises(ValueError, match=message):
        encode(image, fmt, quality=quality)
