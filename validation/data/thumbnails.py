"""Thumbnails of DICOM images for the report's failure-case gallery.

:func:`display_image` turns one DICOM image into 8-bit display grey levels the way a
viewer would show it: the Modality LUT, then the VOI LUT or window stored in the header
(:func:`validation.data.dicom.read_dicom` with ``apply_voi_lut=True``), MONOCHROME1
mirrored so that higher values are brighter, and the VOI output range mapped onto
0-255. A header without a VOI LUT or window gets a percentile window (0.5th to 99.5th),
and the record says so. An image whose ``BurnedInAnnotation`` (0028,0301) is ``YES`` is
refused (:class:`ImageNotShown`): its pixels may show patient text, which no
automatic redaction could be trusted to remove.

:func:`thumbnail_png` scales a display image to a fixed long side and draws the overlays
(boxes, points, circles, mask contours) at that scale, then encodes a PNG. Pillow does
the resampling, drawing and encoding; the contour is the mask's boundary at thumbnail
scale (``scipy.ndimage.binary_erosion``), since neither library draws the outline of a
label mask directly.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pydicom
from PIL import Image, ImageDraw
from pydicom.pixels import apply_voi_lut
from scipy import ndimage

from validation.data.dicom import read_dicom
from validation.errors import DicomReadError, RadvalError

__all__ = [
    "DisplayImage",
    "ImageNotShown",
    "Overlay",
    "display_image",
    "thumbnail_png",
    "REFERENCE_COLOUR",
    "MODEL_COLOUR",
    "HIT_COLOUR",
]

#: Okabe-Ito colours, distinguishable with the common colour-vision deficiencies:
#: the reference standard (truth lesions, reference contours) in sky blue, the model's
#: false-positive marks and predicted contours in vermillion, marks that hit a lesion in
#: bluish green.
REFERENCE_COLOUR = (86, 180, 233)
MODEL_COLOUR = (213, 94, 0)
HIT_COLOUR = (0, 158, 115)

#: Percentiles of the grey levels used as the window when the header has none.
FALLBACK_PERCENTILES = (0.5, 99.5)


class ImageNotShown(RadvalError):
    """An image that must not be shown (e.g. ``BurnedInAnnotation`` is YES)."""


@dataclass(frozen=True)
class DisplayImage:
    """8-bit display grey levels (``(rows, cols)``) or RGB (``(rows, cols, 3)``).

    ``window`` says how the grey levels were windowed; ``frame`` is the frame shown
    (0-based) of a multi-frame file, ``None`` for a single frame.
    """

    pixels: np.ndarray
    window: str
    frame: int | None = None


@dataclass(frozen=True)
class Overlay:
    """One mark drawn on a thumbnail, in the image's pixel coordinates.

    ``kind`` is ``box`` (``x0, y0, x1, y1`` pixel edges), ``point`` (``x, y``), ``circle``
    (centre ``x, y`` and ``radius``) or ``contour`` (``mask``, a boolean array of the
    image's shape). ``dashed`` draws a box or circle with a dashed outline (a missed
    lesion), so that the marks differ in shape as well as in colour.
    """

    kind: Literal["box", "point", "circle", "contour"]
    colour: tuple[int, int, int]
    coords: tuple[float, ...] = ()
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    dashed: bool = False


def _burned_in(ds: pydicom.Dataset) -> str | None:
    value = ds.get("BurnedInAnnotation")
    return str(value).strip().upper() if value is not None else None


def _scaled(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    out = (values.astype(np.float64) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _window_text(ds: pydicom.Dataset) -> str | None:
    """How the header windows the image, or None when it has no VOI LUT or window."""
    if "VOILUTSequence" in ds:
        return "the VOI LUT in the header"
    if "WindowCenter" in ds and "WindowWidth" in ds:
        centre = ds.WindowCenter
        width = ds.WindowWidth
        c = centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre
        w = width[0] if isinstance(width, pydicom.multival.MultiValue) else width
        return f"window centre {float(c):g}, width {float(w):g} from the header"
    return None


def _voi_range(ds: pydicom.Dataset) -> tuple[float, float] | None:
    """The output range of the header's VOI transform (values far outside any window
    come out at its two ends), or None when the transform leaves them unchanged."""
    probe = np.array([-1e12, 1e12], dtype=np.float64)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")  # pydicom warns that a float probe is "incorrect"
        out = np.asarray(apply_voi_lut(probe.copy(), ds), dtype=np.float64)
    if np.allclose(out, probe):
        return None
    lo, hi = float(out.min()), float(out.max())
    return (lo, hi) if hi > lo else None


def display_image(
    path: str | os.PathLike[str], *, frame: int | None = None, hide_unknown_burned_in: bool = False
) -> DisplayImage:
    """Read a DICOM image as 8-bit display grey levels (or RGB).

    Parameters
    ----------
    path
        The DICOM file.
    frame
        The frame (0-based) of a multi-frame file; default the middle frame.
    hide_unknown_burned_in
        Also refuse an image whose header does not say whether text is burned in.

    Returns
    -------
    DisplayImage

    Raises
    ------
    ImageNotShown
        ``BurnedInAnnotation`` is ``YES`` (or absent, with ``hide_unknown_burned_in``).
    DicomReadError
        The file cannot be read or decoded (the message names the file and why).

    References
    ----------
    DICOM PS3.3 C.7.6.3.1 (Burned In Annotation), C.11.2 (VOI LUT), C.7.6.3.1.2
    (MONOCHROME1).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's notes on odd headers; errors still raise
            ds = pydicom.dcmread(os.fspath(path), stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "cannot be shown"
        raise DicomReadError(f"{path}: not a readable DICOM file ({type(exc).__name__})") from None
    burned = _burned_in(ds)
    if burned == "YES":
        raise ImageNotShown(
            "BurnedInAnnotation is YES: the pixels may show patient text, so the image is not shown"
        )
    if burned is None and hide_unknown_burned_in:
        raise ImageNotShown(
            "the header does not state BurnedInAnnotation and the protocol hides such images"
        )
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        colour = int(ds.get("SamplesPerPixel", 1) or 1) > 1 or "PALETTE" in str(
            ds.get("PhotometricInterpretation", "")
        )
        window = None if colour else _window_text(ds)
    except (TypeError, ValueError) as exc:
        raise DicomReadError(f"{path}: an invalid header value ({exc})") from None
    chosen = frame if frame is not None else (frames // 2 if frames > 1 else None)
    image = read_dicom(path, apply_voi_lut=window is not None, frame=chosen)
    pixels = image.pixels
    if pixels.ndim == (4 if colour else 3):  # several frames decoded: show the middle one
        pixels = pixels[pixels.shape[0] // 2]
    if colour:
        hi = 255.0 if float(np.nanmax(pixels)) <= 255.0 else float(np.nanmax(pixels))
        return DisplayImage(_scaled(pixels, 0.0, hi), "colour image, not windowed", chosen)
    limits = _voi_range(ds) if window is not None else None
    if limits is None:
        lo, hi = np.percentile(pixels, FALLBACK_PERCENTILES)
        limits = (float(lo), float(hi))
        window = (
            f"{window}; its output range unknown, so " if window else "no window in the header: "
        ) + "0.5th to 99.5th percentile of the grey levels"
    return DisplayImage(_scaled(pixels, *limits), window or "", chosen)


def _dashed_rectangle(
    draw: ImageDraw.ImageDraw, box: Sequence[float], colour: tuple[int, int, int], width: int
) -> None:
    x0, y0, x1, y1 = box
    dash = 4
    for a, b, fixed, horizontal in ((x0, x1, y0, True), (x0, x1, y1, True)) + (
        (y0, y1, x0, False),
        (y0, y1, x1, False),
    ):
        t = a
        while t < b:
            e = min(t + dash, b)
            line = (t, fixed, e, fixed) if horizontal else (fixed, t, fixed, e)
            draw.line(line, fill=colour, width=width)
            t += 2 * dash


def _contour(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The mask's boundary pixels at thumbnail size (nearest-neighbour scaled)."""
    small = Image.fromarray(np.asarray(mask, dtype=bool).astype(np.uint8) * 255).resize(
        size, Image.Resampling.NEAREST
    )
    m = np.asarray(small) > 0
    edge = m & ~ndimage.binary_erosion(m)
    return np.asarray(ndimage.binary_dilation(edge), dtype=bool)


def thumbnail_png(
    image: DisplayImage, *, size: int, overlays: Sequence[Overlay] = ()
) -> tuple[bytes, tuple[int, int]]:
    """Scale an image so its long side is ``size`` pixels, draw ``overlays``, encode PNG.

    Returns the PNG bytes and the thumbnail's ``(width, height)``. Overlays are given in
    the image's pixel coordinates and drawn 2 pixels wide at thumbnail scale; a contour
    mask must have the image's shape (``(rows, cols)``).
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    rows, cols = image.pixels.shape[:2]
    scale = size / max(rows, cols)
    out_size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    pil = Image.fromarray(np.ascontiguousarray(image.pixels, dtype=np.uint8))
    method = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    thumb = pil.resize(out_size, method).convert("RGB")
    canvas = np.asarray(thumb).copy()
    for ov in overlays:
        if ov.kind == "contour" and ov.mask is not None:
            if ov.mask.shape != (rows, cols):
                raise ValueError(
                    f"contour mask shape {ov.mask.shape} differs from the image's {(rows, cols)}"
                )
            canvas[_contour(ov.mask, out_size)] = ov.colour
    thumb = Image.fromarray(canvas)
    draw = ImageDraw.Draw(thumb)
    for ov in overlays:
        c = [v * scale for v in ov.coords]
        if ov.kind == "box":
            box = (c[0], c[1], max(c[2] - 1, c[0]), max(c[3] - 1, c[1]))
            if ov.dashed:
                _dashed_rectangle(draw, box, ov.colour, 2)
            else:
                draw.rectangle(box, outline=ov.colour, width=2)
        elif ov.kind == "circle":
            x, y, r = c
            if ov.dashed:
                for start in range(0, 360, 40):
                    draw.arc(
                        (x - r, y - r, x + r, y + r), start, start + 20, fill=ov.colour, width=2
                    )
            else:
                draw.ellipse((x - r, y - r, x + r, y + r), outline=ov.colour, width=2)
        elif ov.kind == "point":
            x, y = c[0], c[1]
            draw.line((x - 6, y, x + 6, y), fill=ov.colour, width=2)
            draw.line((x, y - 6, x, y + 6), fill=ov.colour, width=2)
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue(), out_size
