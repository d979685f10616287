"""Camera-trap image decoding and preprocessing with OpenCV.

All arrays are ``uint8`` RGB in ``(H, W, 3)`` layout unless stated otherwise. Decoding follows the
displayed geometry: OpenCV applies the EXIF ``Orientation`` tag when it decodes with
``IMREAD_COLOR`` (OpenCV docs, ``cv::ImreadModes``), greyscale/infrared frames come back with
three equal channels, alpha is dropped, and images deeper than 8 bits (16-bit thermal or IR frames,
float TIFFs) are decoded at full depth and stretched linearly from their real range to 0..255
(:func:`to_uint8`), never cut to their top 8 bits first.

What a file is comes from its content, in one place for every path (station drops, uploads):
:func:`sniff_media`.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import filetype
import numpy as np
from PIL import Image, UnidentifiedImageError

from models.media.errors import MediaError

log = logging.getLogger(__name__)

#: Default ceiling on decoded pixels; Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``,
#: 89,478,485 px) warns at this size, so we reject above it before decoding.
DEFAULT_MAX_PIXELS = 89_478_485

#: Image types the pipeline decodes (content type -> file extension used when storing an upload).
IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/tiff": ".tif", "image/bmp": ".bmp",
               "image/webp": ".webp"}
#: Video containers read by ``models.media.video`` (``filetype`` signatures).
VIDEO_MIMES = {"video/x-msvideo", "video/mp4", "video/quicktime", "video/x-m4v"}
#: Names of formats recognised by content but not decoded, for the ``unsupported_format`` reason.
FORMAT_NAMES = {"image/heic": "HEIF", "image/heif": "HEIF", "image/avif": "AVIF", "image/gif": "GIF",
                "image/vnd.adobe.photoshop": "Photoshop (PSD)", "image/x-icon": "ICO", "image/jxr": "JPEG XR",
                "image/x-canon-cr2": "Canon raw (CR2)", "image/x-canon-cr3": "Canon raw (CR3)",
                "image/x-nikon-nef": "Nikon raw (NEF)", "image/x-sony-arw": "Sony raw (ARW)",
                "image/x-fujifilm-raf": "Fujifilm raw (RAF)", "image/x-panasonic-rw2": "Panasonic raw (RW2)",
                "image/x-olympus-orf": "Olympus raw (ORF)", "image/jp2": "JPEG 2000", "image/jxl": "JPEG XL",
                "application/pdf": "PDF", "application/zip": "ZIP archive", "video/x-matroska": "Matroska video",
                "video/webm": "WebM video", "video/x-flv": "Flash video", "video/mpeg": "MPEG video",
                "video/x-ms-wmv": "WMV video", "video/3gpp": "3GP video"}
#: The formats accepted, appended to every ``unsupported_format`` detail.
SUPPORTED_TEXT = ("content is neither a supported image (JPEG, PNG, TIFF, BMP, WebP) nor a decodable "
                  "audio recording (WAV, FLAC, MP3, OGG, AIFF)")

_EXIF_IFD = 0x8769
_TAG_DATETIME_ORIGINAL = 36867
_TAG_OFFSET_TIME_ORIGINAL = 36881
_TAG_ORIENTATION = 274


@dataclass(frozen=True)
class ImageInfo:
    """What a header read (no full decode) tells about an image.

    Attributes:
        mime: media type sniffed from the content (not the extension), e.g. ``image/jpeg``.
        width_px, height_px: displayed size, i.e. after EXIF orientation.
        orientation: EXIF Orientation (1 when absent).
        exif_datetime: ``DateTimeOriginal`` as written by the camera (naive), or None.
        exif_offset: ``OffsetTimeOriginal`` such as ``+08:00``, or None.
        has_alpha: the image has an alpha channel or a transparent palette entry.
    """

    mime: str
    width_px: int
    height_px: int
    orientation: int = 1
    exif_datetime: datetime | None = None
    exif_offset: str | None = None
    has_alpha: bool = False


def sniff_mime(head: bytes) -> str | None:
    """Media type from the first bytes of a file (``filetype`` signatures), or None if unknown."""
    kind = filetype.guess(head)
    return kind.mime if kind else None


def format_name(mime: str) -> str:
    """A reader's name for a content type: ``HEIF`` for ``image/heic``; the type itself when unnamed."""
    return FORMAT_NAMES.get(mime, mime)


def unsupported(name: str | Path, mime: str | None) -> MediaError:
    """The one ``unsupported_format`` error: names the sniffed format (when one was recognised) and the
    formats accepted, e.g. ``HEIF (image/heic) is not supported; content is neither ...``."""
    prefix = f"{format_name(mime)} ({mime}) is not supported; " if mime else ""
    return MediaError(name, "unsupported_format", prefix + SUPPORTED_TEXT)


def sniff_media(head: bytes, name: str | Path = "<bytes>") -> tuple[str, str | None]:
    """What a file is, from its first bytes (at least 262; ``filetype`` signatures): the one sniffing
    function of every path (drops, uploads, training data).

    Returns:
        ``(modality, mime)``: ``("image", mime)`` for a type in :data:`IMAGE_TYPES`, ``("video", mime)`` for
        :data:`VIDEO_MIMES`, else ``("audio", mime or None)``: audio is confirmed by decoding it (libsndfile
        reads formats ``filetype`` does not know).

    Raises:
        MediaError: ``unsupported_format`` for any other recognised image, video or document type (HEIF,
            GIF, raw camera files, PDF, ...), naming it (:func:`unsupported`).
    """
    mime = sniff_mime(head)
    if mime in IMAGE_TYPES:
        return "image", mime
    if mime in VIDEO_MIMES:
        return "video", mime
    if mime is None or mime.startswith("audio/"):
        return "audio", mime
    raise unsupported(name, mime)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Any-depth image -> ``uint8`` of the same shape; 8-bit input is returned as is.

    Deeper data (``uint16`` thermal/IR frames, ``float32`` TIFFs) is stretched linearly from its real range
    (minimum..maximum of the finite values, all channels together) to 0..255, so a 16-bit frame spanning a
    few hundred levels keeps them instead of collapsing to the 2-4 grey levels its top 8 bits hold. A flat
    frame maps to 0 (integer types: its value scaled from the type's full range).
    """
    if img.dtype == np.uint8:
        return img
    data = img.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(img.shape, np.uint8)
    lo, hi = float(data[finite].min()), float(data[finite].max())
    data = np.where(finite, data, lo)
    if hi <= lo:
        full = float(np.iinfo(img.dtype).max) if np.issubdtype(img.dtype, np.integer) else 1.0
        return np.full(img.shape, int(np.clip(round(lo / full * 255), 0, 255)), np.uint8)
    return np.clip(np.rint((data - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def _parse_exif_datetime(raw: object) -> datetime | None:
    if not isinstance(raw, str):
        return None
    raw = raw.strip().rstrip("\x00")
    try:
        return datetime.strptime(raw, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def read_image_info(data: bytes, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS,
                    verify: bool = True) -> ImageInfo:
    """Read an image header and check that the file is a complete, decodable image.

    The check is cheap but strict: size from the header (rejecting more than ``max_pixels`` before
    any full decode), a JPEG must end with its EOI marker ``FF D9`` (libjpeg fills a truncated scan
    with grey and only prints a warning), and the image must decode (at 1/8 scale for JPEG).

    Args:
        data: the file's bytes.
        name: used in error messages.
        max_pixels: largest accepted width x height.
        verify: also decode the image (1/8 scale for JPEG); callers that decode it right after
            (:func:`decode_image`) skip this and check their own decode.

    Raises:
        MediaError: reason ``unsupported_format``, ``image_too_large``, ``truncated`` or ``corrupt``.
    """
    modality, mime = sniff_media(data[:262], name)
    if modality != "image":
        raise unsupported(name, mime)
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            exif = im.getexif()
            has_alpha = im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaError(name, "corrupt", f"{format_name(mime)} header cannot be read ({type(exc).__name__})") from exc
    except Image.DecompressionBombError as exc:  # Pillow refuses to open above 2x its own limit
        raise MediaError(name, "image_too_large",
                         f"image exceeds the limit of {max_pixels} px (header check: {exc})") from exc
    if width * height > max_pixels:
        raise MediaError(name, "image_too_large", f"{width}x{height} px exceeds the limit of {max_pixels} px")
    orientation = int(exif.get(_TAG_ORIENTATION, 1) or 1)
    sub = exif.get_ifd(_EXIF_IFD)
    dt = _parse_exif_datetime(sub.get(_TAG_DATETIME_ORIGINAL) or exif.get(306))
    offset = sub.get(_TAG_OFFSET_TIME_ORIGINAL)
    if mime == "image/jpeg" and jpeg_end(data) is None and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        # the image stops before its end marker (a file that ends with one but whose segments do not add up is
        # left to the decoder: "corrupt")
        raise MediaError(name, "truncated", "JPEG has no end-of-image marker (FF D9)")
    flag = cv2.IMREAD_REDUCED_GRAYSCALE_8 if mime == "image/jpeg" else cv2.IMREAD_UNCHANGED
    if verify and cv2.imdecode(np.frombuffer(data, np.uint8), flag) is None:
        raise MediaError(name, "corrupt", "OpenCV could not decode the image")
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(
        mime=mime,
        width_px=width,
        height_px=height,
        orientation=orientation,
        exif_datetime=dt,
        exif_offset=offset.strip() if isinstance(offset, str) else None,
        has_alpha=has_alpha,
    )


def jpeg_end(data: bytes) -> int | None:
    """Offset just past the main image's end-of-image marker (``FF D9``) of a JPEG, or None when the image
    stops before it (truncated). Walks the marker segments (ITU-T T.81 annex B): lengths of header segments
    (so an EXIF thumbnail's own markers inside APP1 are skipped), entropy-coded data of each scan up to the
    next marker (``FF 00`` stuffing and ``RST0-7`` belong to the data). Bytes after the end marker (phone
    trailers such as Samsung's SEFT, padding) are allowed: the image itself is complete.
    """
    n = len(data)
    if n < 4 or data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 1 < n:
        if data[i] != 0xFF:
            return None
        while i + 1 < n and data[i + 1] == 0xFF:  # fill bytes before a marker
            i += 1
        if i + 1 >= n:
            return None
        m = data[i + 1]
        if m == 0xD9:
            return i + 2
        if m == 0x01 or 0xD0 <= m <= 0xD7:
            i += 2
            continue
        if i + 3 >= n:
            return None
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
        if m == 0xDA:  # start of scan: entropy-coded data up to the next marker
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    return None
                nxt = data[j + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    i = j + (1 if nxt == 0xFF else 2)
                    continue
                i = j
                break
    return None


def _reduced_flag(shorter_side_px: int, target_px: int | None) -> tuple[int, int]:
    """Largest libjpeg DCT scaling (1/2, 1/4, 1/8) that keeps the shorter side >= ``target_px``."""
    if target_px:
        for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                             (2, cv2.IMREAD_REDUCED_COLOR_2)):
            if shorter_side_px // factor >= target_px:
                return factor, flag
    return 1, cv2.IMREAD_COLOR


def decode_image(data: bytes, name: str = "<bytes>", target_px: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image to RGB ``(H, W, 3) uint8`` in displayed orientation.

    Args:
        data: the file's bytes.
        name: used in error messages.
        target_px: if given, JPEGs are decoded at a reduced DCT scale whose shorter side is still
            at least this many pixels (much faster for full-resolution camera frames).
        max_pixels: largest accepted width x height (checked on the header first).

    Raises:
        MediaError: as :func:`read_image_info`.
    """
    info = read_image_info(data, name, max_pixels, verify=False)
    if info.has_alpha:
        log.warning("%s: alpha channel dropped; colour values are kept as stored (not composited)", name)
    flag = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH  # full depth: 16-bit PNG/TIFF are not cut to 8 bits
    if info.mime == "image/jpeg":
        _, flag = _reduced_flag(min(info.width_px, info.height_px), target_px)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if bgr is None:
        raise MediaError(name, "corrupt", "OpenCV could not decode the image")
    if bgr.dtype != np.uint8:
        log.info("%s: %s image stretched from its range to 8 bits", name, bgr.dtype)
        bgr = to_uint8(bgr)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_image(path: str | Path, target_px: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read and decode an image file; see :func:`decode_image`.

    Raises:
        MediaError: reason ``unreadable`` if the file cannot be read, else as :func:`decode_image`.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MediaError(path, "unreadable", str(exc)) from exc
    return decode_image(data, str(path), target_px, max_pixels)


def crop_strips(img: np.ndarray, top_frac: float = 0.0, bottom_frac: float = 0.0) -> np.ndarray:
    """Remove burnt-in camera info strips (date, temperature, brand) from the top and bottom.

    Args:
        img: ``(H, W, C)`` array.
        top_frac, bottom_frac: fraction of the height to drop at each edge, in ``[0, 0.5)``.

    Returns:
        A view ``(H', W, C)`` with ``H' = H - round(H*top_frac) - round(H*bottom_frac)``.
    """
    h = img.shape[0]
    top, bottom = round(h * top_frac), round(h * bottom_frac)
    return img[top : h - bottom] if top or bottom else img


def resize_square(img: np.ndarray, size_px: int) -> np.ndarray:
    """Resize to ``(size_px, size_px, C)`` without cropping.

    Camera-trap animals are often at the frame's edge, so the whole frame is kept (aspect ratio is
    not preserved) rather than centre-cropped. The filter is Pillow's antialiased bilinear
    (``Image.resize(..., BILINEAR)``), the one torchvision's ``Resize`` and therefore timm's eval
    transform apply to PIL images: our inputs match timm's pixel for pixel on the same decoded
    frame (OpenCV's ``INTER_AREA`` differs enough to flip ~15 % of a small model's top-1).
    """
    if img.shape[0] == size_px and img.shape[1] == size_px:
        return img
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((size_px, size_px), Image.Resampling.BILINEAR))


def mask_strips(img: np.ndarray, top_frac: float = 0.0, bottom_frac: float = 0.0,
                fill: tuple[int, int, int] = (124, 116, 104)) -> np.ndarray:
    """Paint the info strips with a flat colour instead of removing them (the frame keeps its size).

    Args:
        img: ``(H, W, 3)`` uint8 RGB.
        top_frac, bottom_frac: as :func:`crop_strips`.
        fill: RGB fill; the default is the ImageNet mean (0.485, 0.456, 0.406) x 255, i.e. zero after
            normalisation, so the masked rows carry no signal into the model.

    Returns:
        A new array of the same shape (the input is not modified).
    """
    h = img.shape[0]
    top, bottom = round(h * top_frac), round(h * bottom_frac)
    out = img.copy()
    if top:
        out[:top] = fill
    if bottom:
        out[h - bottom :] = fill
    return out


def decode_worker_init() -> None:
    """Initialiser of image decode worker processes: one OpenCV thread per process, since the
    workers already spread decoding over the cores (and the parent's model uses its own threads)."""
    cv2.setNumThreads(1)


#: How a deployment's burnt-in info strips are handled before classification.
STRIP_MODES = ("crop", "mask", "none")


@dataclass(frozen=True)
class ImagePreprocessing:
    """The ordered, pure steps that turn an image file into the model's input; saved in bundles.

    Steps: decode (EXIF-oriented RGB, reduced-scale JPEG decode) -> crop (or mask) the info strips
    -> resize to ``size_px`` square -> scale to ``[0, 1]`` -> normalise with ``mean``/``std`` (per
    channel, from the timm model's data config).

    ``decode_oversample``: JPEGs are decoded at the smallest libjpeg DCT scale (1/2, 1/4, 1/8) whose
    shorter side, strips removed, is still at least ``decode_oversample * size_px`` (the final
    resize then averages at least that many source pixels per output pixel). 4 is chosen by
    ``benchmarks/images.py`` on the station images: top-1 agreement with the full-size timm path was
    93.9 % at 2, 97.0 % at 3 and 100 % at 4 (a/b 2.35 at 4 with threaded decoding).
    """

    size_px: int
    crop_top_frac: float = 0.0
    crop_bottom_frac: float = 0.0
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    max_pixels: int = DEFAULT_MAX_PIXELS
    strip_mode: str = "crop"
    decode_oversample: float = 4.0

    def __post_init__(self) -> None:
        if self.strip_mode not in STRIP_MODES:
            raise ValueError(f"strip_mode must be one of {STRIP_MODES}, not {self.strip_mode!r}")

    @property
    def decode_target_px(self) -> int:
        """Shorter side (px) a reduced JPEG decode must keep; see ``decode_oversample``."""
        kept = 1.0 - (self.crop_top_frac + self.crop_bottom_frac if self.strip_mode == "crop" else 0.0)
        return int(np.ceil(self.size_px * self.decode_oversample / max(kept, 0.1)))

    def frame_pixels(self, img: np.ndarray) -> np.ndarray:
        """Decoded RGB ``(H, W, 3) uint8`` (an image or a video frame) -> strips handled, resized
        ``(size_px, size_px, 3) uint8``."""
        if self.strip_mode == "crop":
            img = crop_strips(img, self.crop_top_frac, self.crop_bottom_frac)
        elif self.strip_mode == "mask":
            img = mask_strips(img, self.crop_top_frac, self.crop_bottom_frac)
        return resize_square(img, self.size_px)

    def pixels(self, data: bytes, name: str = "<bytes>") -> np.ndarray:
        """File bytes -> strips handled, resized ``(size_px, size_px, 3) uint8`` RGB.

        Raises:
            MediaError: as :func:`decode_image`.
        """
        img = decode_image(data, name, target_px=self.decode_target_px, max_pixels=self.max_pixels)
        return self.frame_pixels(img)

    def pixels_from_file(self, path: str | Path, name: str | None = None) -> np.ndarray:
        """As :meth:`pixels`, reading ``path`` (picklable, for decode worker processes).

        Raises:
            MediaError: ``unreadable`` if the file cannot be read, else as :func:`decode_image`.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise MediaError(name or path, "unreadable", str(exc)) from exc
        return self.pixels(data, name or str(path))

    def pixels_or_error(self, path: str, name: str) -> np.ndarray | MediaError:
        """:meth:`pixels_from_file`, returning the ``MediaError`` instead of raising it (for decode
        worker processes: this module is light to import, unlike the model code)."""
        try:
            return self.pixels_from_file(path, name)
        except MediaError as exc:
            return exc

    def normalise(self, batch: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3) uint8`` -> C-contiguous ``(N, 3, H, W) float32`` normalised model input:
        ``(x / 255 - mean) / std``, torchvision's ``ToTensor`` + ``Normalize`` in that order (bit-identical to
        them), computed in place on one array laid out as the model reads it (the uint8 batch is transposed
        first): 0.16 instead of 0.8 ms of CPU per 192 px image, counting the copy ONNX Runtime needed of the
        earlier strided result (CPU time of a 32 x 192 px batch on the 2-core machine of docs/scaling.md)."""
        x = np.ascontiguousarray(np.asarray(batch).transpose(0, 3, 1, 2)).astype(np.float32)
        x /= np.float32(255.0)
        x -= np.asarray(self.mean, np.float32)[None, :, None, None]
        x /= np.asarray(self.std, np.float32)[None, :, None, None]
        return x
