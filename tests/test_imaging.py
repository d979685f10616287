"""Image decoding (orientation, channels, bit depth, limits, errors) and the preprocessing steps."""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import pytest

from models.media.errors import MediaError
from models.media.imaging import (
    ImagePreprocessing,
    crop_strips,
    decode_image,
    load_image,
    read_image_info,
    resize_square,
    sniff_mime,
)


def test_decode_colour_and_layout(media):
    img = decode_image(media.jpeg(64, 48, rgb=(200, 40, 20)))
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert np.abs(img.reshape(-1, 3).mean(0) - (200, 40, 20)).max() < 4  # RGB order, not BGR


def test_header_facts_and_exif_time(media):
    data = media.exif_jpeg(64, 48, taken="2024:05:01 08:00:00", offset="+08:00")
    info = read_image_info(data)
    assert (info.mime, info.width_px, info.height_px, info.orientation) == ("image/jpeg", 64, 48, 1)
    assert info.exif_datetime == datetime(2024, 5, 1, 8, 0, 0)
    assert info.exif_offset == "+08:00"
    assert not info.has_alpha


def test_exif_orientation_6_gives_displayed_geometry(media):
    # stored 60 wide x 20 tall, white marker at the stored top-left; Orientation 6 = rotate 90 deg clockwise
    data = media.exif_jpeg(60, 20, orientation=6, marker=True)
    info = read_image_info(data)
    assert (info.width_px, info.height_px, info.orientation) == (20, 60, 6)
    img = decode_image(data)
    assert img.shape == (60, 20, 3)
    assert img[1:9, 11:19].min() > 230  # marker now at the top-right corner
    assert img[1:9, 1:9].max() < 25


def test_greyscale_becomes_three_equal_channels(media):
    img = decode_image(media.png(np.full((4, 5), 77, np.uint8)))
    assert img.shape == (4, 5, 3)
    assert (img == 77).all()


def test_sixteen_bit_png_is_scaled_to_eight_bits(media):
    arr = np.empty((2, 2, 3), np.uint16)
    arr[:] = (65535, 25700, 0)  # 65535/257 = 255, 25700/257 = 100
    img = decode_image(media.png(arr))
    assert img.dtype == np.uint8
    assert (img[0, 0] == (255, 100, 0)).all()


def test_alpha_png_drops_alpha_and_warns(media, caplog):
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., :3] = (10, 120, 250)
    rgba[..., 3] = 255
    rgba[:3, :, 3] = 0  # the top half is transparent
    with caplog.at_level(logging.WARNING, logger="models.media.imaging"):
        img = decode_image(media.png(rgba), "x.png")
    assert img.shape == (6, 8, 3)
    assert (img[3:] == (10, 120, 250)).all()
    assert "alpha" in caplog.text and "x.png" in caplog.text


def test_no_alpha_warning_for_rgb(media, caplog):
    with caplog.at_level(logging.WARNING, logger="models.media.imaging"):
        decode_image(media.png(np.zeros((4, 4, 3), np.uint8)))
    assert "alpha" not in caplog.text


def test_format_is_recognised_by_content(tmp_path, media):
    p = tmp_path / "actually_a_png.jpg"
    p.write_bytes(media.png(np.full((5, 7, 3), 9, np.uint8)))
    assert sniff_mime(p.read_bytes()[:262]) == "image/png"
    assert read_image_info(p.read_bytes()).mime == "image/png"
    img = load_image(p)
    assert img.shape == (5, 7, 3) and (img == 9).all()


def _reason(data: bytes, **kw) -> str:
    with pytest.raises(MediaError) as exc:
        decode_image(data, "f.jpg", **kw)
    assert exc.value.path == "f.jpg"
    return exc.value.reason


def test_truncated_jpeg(media):
    data = media.jpeg(256, 256, noise_seed=1)  # noisy: the scan data is most of the file
    assert _reason(data[: int(len(data) * 0.7)]) == "truncated"


def test_corrupt_scan_data(media):
    data = media.jpeg(64, 48)
    assert _reason(data[:300] + bytes(range(256)) * 2 + b"\xff\xd9") == "corrupt"


@pytest.mark.parametrize("data", [b"plain text, not an image " * 20, b"%PDF-1.4\n" + b"0" * 300, b""])
def test_not_an_image(data):
    assert _reason(data) == "unsupported_format"


def test_pixel_limit_is_checked_on_the_header(media):
    data = media.jpeg(100, 100)
    assert _reason(data, max_pixels=9_999) == "image_too_large"
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)


def test_unreadable_file(tmp_path):
    with pytest.raises(MediaError) as exc:
        load_image(tmp_path / "missing.jpg")
    assert exc.value.reason == "unreadable"


@pytest.mark.parametrize(("target", "shape"), [
    (100, (120, 160, 3)),  # 480 // 4 = 120 >= 100, 480 // 8 = 60 < 100: 1/4 scale
    (60, (60, 80, 3)),  # 480 // 8 = 60: 1/8 scale
    (300, (480, 640, 3)),  # 480 // 2 = 240 < 300: full size
    (None, (480, 640, 3)),
])
def test_reduced_jpeg_decode_keeps_the_target(media, target, shape):
    img = decode_image(media.jpeg(640, 480), target_px=target)
    assert img.shape == shape
    assert min(img.shape[:2]) >= (target or 0)


def test_reduced_decode_keeps_orientation(media):
    data = media.exif_jpeg(160, 80, orientation=6, marker=True)  # displayed 80 wide x 160 tall
    img = decode_image(data, target_px=20)  # 80 // 4 = 20: 1/4 scale
    assert img.shape == (40, 20, 3)
    assert img[0, -1].min() > 200  # the marker (10 px -> 2.5 px) stays at the top-right


def test_crop_strips():
    img = np.arange(100)[:, None, None] * np.ones((1, 3, 1), int)
    out = crop_strips(img, 0.04, 0.04)
    assert out.shape == (92, 3, 1)
    assert out[0, 0, 0] == 4 and out[-1, 0, 0] == 95
    assert crop_strips(img, 0.1, 0.0).shape[0] == 90
    assert crop_strips(img) is img


@pytest.mark.parametrize(("shape", "size"), [((50, 80, 3), 32), ((10, 10, 3), 32), ((30, 20), 16)])
def test_resize_square(shape, size):
    out = resize_square(np.full(shape, 7, np.uint8), size)
    assert out.shape == (size, size, *shape[2:])
    assert (out == 7).all()


def test_normalise_is_torchvisions_to_tensor_and_normalize_bit_for_bit():
    """The in-place, contiguous normalisation gives exactly the floats of the training-time torchvision
    transforms (and the model's memory layout, so ONNX Runtime copies nothing)."""
    import torch
    from torchvision.transforms import functional as tvf

    pre = ImagePreprocessing(size_px=24, mean=(0.50196, 0.50196, 0.50196), std=(0.50196, 0.50196, 0.50196))
    batch = np.random.default_rng(4).integers(0, 256, (5, 24, 24, 3), dtype=np.uint8)
    x = pre.normalise(batch)
    ref = torch.stack([tvf.normalize(tvf.to_tensor(im), pre.mean, pre.std) for im in batch]).numpy()
    assert x.flags["C_CONTIGUOUS"] and x.dtype == np.float32 and x.shape == (5, 3, 24, 24)
    assert np.array_equal(x, ref)
    assert np.array_equal(pre.normalise(batch[:, ::2]), pre.normalise(np.ascontiguousarray(batch[:, ::2])))


def test_image_preprocessing_pixels_and_normalise(media):
    pre = ImagePreprocessing(size_px=32, crop_top_frac=0.1, crop_bottom_frac=0.1)
    px = pre.pixels(media.jpeg(64, 48, rgb=(255, 255, 255)))
    assert px.shape == (32, 32, 3) and px.dtype == np.uint8
    batch = np.full((2, 4, 4, 3), 255, np.uint8)
    x = pre.normalise(batch)
    assert x.shape == (2, 3, 4, 4) and x.dtype == np.float32
    # (1 - mean) / std per channel
    assert x[0, :, 0, 0] == pytest.approx([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], rel=1e-5)
    assert pre.normalise(np.zeros((1, 1, 1, 3), np.uint8))[0, 0, 0, 0] == pytest.approx(-0.485 / 0.229, rel=1e-5)


def _jpeg(progressive: bool = False, thumbnail: bool = False, size=(640, 480)) -> bytes:
    import io

    from PIL import Image

    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    kwargs = {"quality": 90, "progressive": progressive}
    if thumbnail:  # an EXIF block holding a complete JPEG thumbnail (its own SOI ... EOI)
        thumb = io.BytesIO()
        img.resize((160, 120)).save(thumb, format="JPEG")
        exif = Image.Exif()
        exif[0x010F] = "TrailCam"
        kwargs["exif"] = exif.tobytes() + thumb.getvalue()
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_with_a_trailer_after_its_end_marker_is_complete(progressive):
    from models.media.imaging import jpeg_end, read_image_info

    data = _jpeg(progressive=progressive)
    assert jpeg_end(data) == len(data)
    for trailer in (b"SEFTSEFT", bytes(np.random.default_rng(1).integers(0, 256, 512, dtype=np.uint8)),
                    b"\x00" * 64, b"\xff\xd8\xff\xe0junk"):
        assert jpeg_end(data + trailer) == len(data)
        assert read_image_info(data + trailer, "t.jpg").width_px == 640  # phones append such trailers


@pytest.mark.parametrize("progressive", [False, True])
def test_truncated_jpeg_is_refused_even_with_a_complete_thumbnail_inside(progressive):
    from models.media.errors import MediaError
    from models.media.imaging import jpeg_end, read_image_info

    data = _jpeg(progressive=progressive, thumbnail=True)
    assert jpeg_end(data) == len(data)
    cut = data[: int(len(data) * 0.7)]
    assert b"\xff\xd9" in cut  # the thumbnail's end marker is still there
    assert jpeg_end(cut) is None
    with pytest.raises(MediaError) as err:
        read_image_info(cut, "cut.jpg")
    assert err.value.reason == "truncated"
