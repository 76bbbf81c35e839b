"""Display grey levels and thumbnails for the failure-case gallery (issue 19).

The expected grey levels are computed here from the DICOM standard's linear window
formula (PS3.3 C.11.2.1.2.1), written out by hand: a twin of what pydicom's
``apply_voi_lut`` and the 0-255 mapping in :mod:`validation.data.thumbnails` do.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from validation.data.thumbnails import (
    MODEL_COLOUR,
    REFERENCE_COLOUR,
    DisplayImage,
    ImageNotShown,
    Overlay,
    display_image,
    thumbnail_png,
)
from validation.errors import DicomReadError


def _write(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | None = None,
    burned_in: str | None = "NO",
    bits: int = 12,
) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "ORIGINAL-123"
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _ramp(rows: int = 32, cols: int = 48) -> np.ndarray:
    return (np.arange(rows * cols).reshape(rows, cols) * 4095 // (rows * cols - 1)).astype(
        np.uint16
    )


def _linear_window(x: np.ndarray, c: float, w: float, bits: int) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 (LINEAR) onto [0, 2^bits - 1], then onto 0-255 and rounded."""
    y_max = 2**bits - 1
    out = np.empty(x.shape)
    for i, v in np.ndenumerate(x.astype(float)):
        if v <= c - 0.5 - (w - 1) / 2:
            out[i] = 0.0
        elif v > c - 0.5 + (w - 1) / 2:
            out[i] = y_max
        else:
            out[i] = ((v - (c - 0.5)) / (w - 1) + 0.5) * y_max
    return np.clip(np.rint(out * 255.0 / y_max), 0, 255)


@pytest.mark.parametrize("window", [(2048.0, 4096.0), (1000.0, 500.0), (3000.5, 201.0)])
def test_header_window_is_applied_as_the_standard_says(tmp_path: Path, window: tuple) -> None:
    pixels = _ramp()
    shown = display_image(_write(tmp_path / "a.dcm", pixels, window=window))
    expected = _linear_window(pixels, *window, bits=12)
    assert shown.pixels.dtype == np.uint8 and shown.pixels.shape == pixels.shape
    assert np.abs(shown.pixels.astype(int) - expected).max() <= 1
    assert f"centre {window[0]:g}, width {window[1]:g}" in shown.window


def test_monochrome1_is_shown_inverted(tmp_path: Path) -> None:
    pixels = _ramp()
    m2 = display_image(_write(tmp_path / "m2.dcm", pixels, window=(2048.0, 4096.0)))
    m1 = display_image(
        _write(tmp_path / "m1.dcm", pixels, window=(2048.0, 4096.0), photometric="MONOCHROME1")
    )
    # the lowest stored value is displayed white in MONOCHROME1
    assert m1.pixels[0, 0] > 250 and m2.pixels[0, 0] < 5
    assert np.abs(m1.pixels.astype(int) + m2.pixels.astype(int) - 255).max() <= 1


def test_no_window_uses_percentiles_and_says_so(tmp_path: Path) -> None:
    pixels = _ramp()
    shown = display_image(_write(tmp_path / "n.dcm", pixels))
    lo, hi = np.percentile(pixels.astype(float), (0.5, 99.5))
    expected = np.clip(np.rint((pixels - lo) * 255.0 / (hi - lo)), 0, 255)
    assert np.abs(shown.pixels.astype(int) - expected).max() <= 1
    assert "no window in the header" in shown.window


def test_burned_in_annotation(tmp_path: Path) -> None:
    pixels = _ramp()
    with pytest.raises(ImageNotShown, match="BurnedInAnnotation is YES"):
        display_image(_write(tmp_path / "y.dcm", pixels, burned_in="YES"))
    unknown = _write(tmp_path / "u.dcm", pixels, burned_in=None)
    assert display_image(unknown).pixels.shape == pixels.shape
    with pytest.raises(ImageNotShown, match="does not state BurnedInAnnotation"):
        display_image(unknown, hide_unknown_burned_in=True)


def test_unreadable_file_is_a_named_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not dicom at all")
    with pytest.raises(DicomReadError):
        display_image(bad)


def _rgb(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def _is(a: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(np.abs(a - np.array(colour)) <= 2, axis=-1)


def test_thumbnail_size_and_overlays_at_scale() -> None:
    image = DisplayImage(np.full((50, 100), 128, dtype=np.uint8), "test")
    png, size = thumbnail_png(
        image, size=200, overlays=[Overlay("box", REFERENCE_COLOUR, (10, 20, 30, 40))]
    )
    assert size == (200, 100)
    a = _rgb(png)
    assert a.shape == (100, 200, 3)
    ys, xs = np.nonzero(_is(a, REFERENCE_COLOUR))
    # the box (10..30, 20..40) at scale 2: edges near x 20 and 58, y 40 and 78
    assert xs.min() == 20 and ys.min() == 40
    assert 56 <= xs.max() <= 60 and 76 <= ys.max() <= 80
    assert not _is(a[:38], REFERENCE_COLOUR).any()


def test_contour_is_the_mask_outline() -> None:
    image = DisplayImage(np.zeros((40, 40), dtype=np.uint8), "test")
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 10:30] = True
    png, _ = thumbnail_png(image, size=80, overlays=[Overlay("contour", MODEL_COLOUR, mask=mask)])
    edge = _is(_rgb(png), MODEL_COLOUR)
    assert edge[20:60, 18:23].any() and edge[20:60, 57:62].any()  # left and right sides
    assert not edge[30:50, 30:50].any()  # the inside stays the image
    with pytest.raises(ValueError, match="differs from the image"):
        thumbnail_png(image, size=80, overlays=[Overlay("contour", MODEL_COLOUR, mask=mask[:20])])


def _testdata() -> list[Path]:
    """pydicom's own test files and the pydicom-data corpus, read from the installed
    packages (``get_testdata_files`` would try to download missing files)."""
    import data_store
    import pydicom.data

    folders = [
        Path(pydicom.data.__file__).parent / "test_files",
        Path(data_store.__file__).parent / "data",
    ]
    return sorted(p for folder in folders for p in folder.rglob("*.dcm"))


def test_every_pydicom_test_file_gives_a_thumbnail_or_a_named_error() -> None:
    """pydicom's own test files (CT, MR, US, RGB, YBR, palette, multi-frame, broken
    headers): each one is either shown or refused with a named error, never a crash."""
    shown = refused = 0
    for f in _testdata():
        try:
            image = display_image(f)
        except (DicomReadError, ImageNotShown):
            refused += 1
            continue
        png, (w, h) = thumbnail_png(image, size=96)
        assert max(w, h) == 96 and png.startswith(b"\x89PNG")
        assert image.pixels.dtype == np.uint8
        shown += 1
    assert shown >= 100 and refused >= 1
