"""Read DICOM images into float32 arrays plus the header attributes radval uses.

Decoding is pydicom's (``pydicom.pixels``) with the pylibjpeg family and pyjpegls as
plugins; this module adds what a validation pipeline needs on top of it:

* one error type, :class:`~validation.errors.DicomReadError`, whose message names the
  file and the reason (``not a DICOM file``, ``truncated file``, ``no pixel data``,
  ``unsupported transfer syntax``, ``inconsistent dimensions``, ...). pydicom itself is
  lenient with broken files (it silently stops at the end of a truncated file and may
  return a partial Pixel Data element), so the checks for truncation and for pixel-data
  length are made here, before decoding;
* a fixed grey-level convention: the Modality LUT is always applied (Rescale Slope /
  Intercept, a Modality LUT Sequence, or the Pixel Value Transformation of an enhanced
  multi-frame file), the VOI LUT or window only on request, and MONOCHROME1 images are
  mirrored so that **higher values are always brighter** (see :func:`read_dicom`);
* colour images (RGB, YBR_*, PALETTE COLOR) always come back as RGB.

Supported transfer syntaxes: implicit and explicit VR little endian, explicit VR big
endian, deflated explicit VR little endian, RLE lossless, JPEG baseline / extended /
lossless, JPEG-LS lossless and near-lossless, JPEG 2000 (lossless and lossy) and
High-Throughput JPEG 2000 (see :data:`SUPPORTED_TRANSFER_SYNTAXES`).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import parse_basic_offsets, parse_fragments
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder
from pydicom.pixels import apply_voi_lut as _pydicom_apply_voi_lut
from pydicom.pixels import pixel_array as _pydicom_pixel_array
from pydicom.pixels.utils import get_expected_length
from pydicom.tag import Tag
from pydicom.uid import UID

from validation.errors import DicomReadError

__all__ = [
    "SUPPORTED_TRANSFER_SYNTAXES",
    "DicomHeader",
    "DicomImage",
    "parse_age",
    "read_dicom",
    "read_header",
]

#: Transfer syntaxes that :func:`read_dicom` decodes (when the codec plugin is installed).
SUPPORTED_TRANSFER_SYNTAXES: frozenset[str] = frozenset(
    {
        pydicom.uid.ImplicitVRLittleEndian,
        pydicom.uid.ExplicitVRLittleEndian,
        pydicom.uid.ExplicitVRBigEndian,
        pydicom.uid.DeflatedExplicitVRLittleEndian,
        pydicom.uid.RLELossless,
        pydicom.uid.JPEGBaseline8Bit,
        pydicom.uid.JPEGExtended12Bit,
        pydicom.uid.JPEGLossless,
        pydicom.uid.JPEGLosslessSV1,
        pydicom.uid.JPEGLSLossless,
        pydicom.uid.JPEGLSNearLossless,
        pydicom.uid.JPEG2000Lossless,
        pydicom.uid.JPEG2000,
        pydicom.uid.HTJ2KLossless,
        pydicom.uid.HTJ2KLosslessRPCL,
        pydicom.uid.HTJ2K,
    }
)
_SUPPORTED_TEXT = (
    "radval decodes uncompressed (implicit/explicit VR little endian, explicit VR big "
    "endian, deflated), RLE, JPEG baseline/extended/lossless, JPEG-LS and JPEG 2000"
)

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_COLOUR = frozenset({"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"})


@dataclass(frozen=True)
class DicomHeader:
    """The header attributes radval uses, read without decoding pixels.

    String attributes are stripped; an absent or empty attribute is ``None``.
    ``patient_id`` is the raw (0010,0020) Patient ID: it exists only so that
    :mod:`validation.data.manifest` can pseudonymise it, is hidden from ``repr`` and
    must never be written anywhere.
    """

    sop_instance_uid: str | None
    study_uid: str | None
    series_uid: str | None
    patient_id: str | None = field(repr=False)
    modality: str | None
    sex: str | None
    age_years: float | None
    manufacturer: str | None
    manufacturer_model: str | None
    institution: str | None
    body_part: str | None
    view: str | None
    rows: int | None
    columns: int | None
    frames: int
    photometric: str | None
    transfer_syntax: str | None
    pixel_spacing: tuple[float, float] | None
    bits_stored: int | None


@dataclass(frozen=True)
class DicomImage:
    """A decoded image: float32 ``pixels`` and its :class:`DicomHeader`.

    ``pixels`` has shape ``(rows, cols)`` for one frame of a greyscale image,
    ``(frames, rows, cols)`` for several, and a trailing axis of 3 (RGB) for colour.
    """

    pixels: np.ndarray
    header: DicomHeader


# ---------------------------------------------------------------------------- header

_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0, "": 1.0}


def parse_age(value: object) -> float | None:
    """Parse a DICOM Age String (``'045Y'``, ``'006M'``, ``'003W'``, ``'010D'``) into years.

    Returns ``None`` for an empty or malformed value (a malformed age is treated as
    unknown rather than as an error, so that one odd header does not stop a
    manifest build). A bare number without unit is read as years.

    Examples
    --------
    >>> parse_age("045Y"), parse_age("006M"), parse_age("")
    (45.0, 0.5, None)
    """
    if value is None:
        return None
    match = _AGE.match(str(value))
    if match is None:
        return None
    return int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2).upper()]


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None:
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip()
    return text or None


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _frames(ds: Dataset) -> int:
    value = ds.get("NumberOfFrames")
    try:
        frames = int(value) if value not in (None, "") else 1
    except (TypeError, ValueError):
        frames = 1
    return max(frames, 1)


def _spacing(ds: Dataset) -> tuple[float, float] | None:
    candidates: list[Any] = [ds.get("PixelSpacing"), ds.get("ImagerPixelSpacing")]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        measures = shared[0].get("PixelMeasuresSequence")
        if measures:
            candidates.append(measures[0].get("PixelSpacing"))
    for value in candidates:
        try:
            if value is not None and len(value) == 2:
                row, col = float(value[0]), float(value[1])
                if row > 0 and col > 0:  # some writers store 0\\0 for "unknown"
                    return (row, col)
        except (TypeError, ValueError):
            continue
    return None


def _header(ds: Dataset) -> DicomHeader:
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return DicomHeader(
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        patient_id=_text(ds, "PatientID"),
        modality=_text(ds, "Modality"),
        sex=_text(ds, "PatientSex"),
        age_years=parse_age(ds.get("PatientAge")),
        manufacturer=_text(ds, "Manufacturer"),
        manufacturer_model=_text(ds, "ManufacturerModelName"),
        institution=_text(ds, "InstitutionName"),
        body_part=_text(ds, "BodyPartExamined"),
        view=_text(ds, "ViewPosition"),
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
        frames=_frames(ds),
        photometric=_text(ds, "PhotometricInterpretation"),
        transfer_syntax=str(tsyntax) if tsyntax else None,
        pixel_spacing=_spacing(ds),
        bits_stored=_int(ds, "BitsStored"),
    )


# ---------------------------------------------------------------------------- opening


def _looks_like_raw_dataset(path: Path) -> bool:
    """True if the file starts with a group 0002/0008 data element (no preamble).

    Old ACR-NEMA style files and some exports omit the 128-byte preamble and the
    'DICM' marker but are otherwise readable DICOM data sets.
    """
    with open(path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8:
        return False
    group_le = int.from_bytes(head[0:2], "little")
    group_be = int.from_bytes(head[0:2], "big")
    return group_le in (0x0002, 0x0008) or group_be in (0x0002, 0x0008)


def _tag_text(tag: int) -> str:
    name = pydicom.datadict.keyword_for_tag(tag) or "private element"
    return f"{Tag(tag)} {name}"


def _truncation(ds: Dataset, caught: list[warnings.WarningMessage], size: int) -> str | None:
    """Describe how the file is cut short, or return None if it is complete."""
    for item in caught:
        text = str(item.message)
        if "End of file reached before delimiter" in text:
            return "the file ends inside an element of undefined length before its delimiter"
    meta = getattr(ds, "file_meta", None)
    keys = list(ds.keys())
    if getattr(ds, "preamble", None) is not None and meta is not None:
        group_length = meta.get("FileMetaInformationGroupLength")
        if isinstance(group_length, int):
            needed = 132 + 12 + group_length
            if size < needed:
                return f"the file meta information needs {needed} bytes, the file has {size}"
            if not keys and 0 < size - needed < 8:
                return "the file ends inside the header of its first data element"
        elif "TransferSyntaxUID" not in meta:
            return "the file ends inside the file meta information"
    if keys:
        last = ds.get_item(keys[-1], keep_deferred=True)
        if (
            isinstance(last, RawDataElement)
            and last.length != 0xFFFFFFFF
            and last.value is not None
            and len(last.value) < last.length
        ):
            return (
                f"the file ends inside element {_tag_text(last.tag)}: "
                f"expected {last.length} bytes of value, found {len(last.value)}"
            )
        if isinstance(last, RawDataElement) and last.length != 0xFFFFFFFF:
            # pydicom stops silently when fewer than 8 bytes (a tag header) are left.
            leftover = size - (last.value_tell + last.length)
            if 0 < leftover < 8:
                return (
                    f"the file ends inside the header of the element after "
                    f"{_tag_text(last.tag)} ({leftover} byte(s) left)"
                )
    return None


def _open(path: str | os.PathLike[str], *, stop_before_pixels: bool) -> tuple[Path, Dataset]:
    p = Path(path)
    if not p.exists():
        raise DicomReadError(f"{p}: file not found")
    if p.is_dir():
        raise DicomReadError(f"{p}: not a DICOM file (it is a directory)")
    size = p.stat().st_size
    if size == 0:
        raise DicomReadError(f"{p}: not a DICOM file (the file is empty)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=stop_before_pixels)
            except InvalidDicomError:
                if not _looks_like_raw_dataset(p):
                    raise DicomReadError(
                        f"{p}: not a DICOM file (no 'DICM' marker at byte 128 and no "
                        "DICOM data element at the start of the file)"
                    ) from None
                ds = pydicom.dcmread(p, stop_before_pixels=stop_before_pixels, force=True)
                _set_guessed_transfer_syntax(ds)
        except DicomReadError:
            raise
        except EOFError as exc:
            raise DicomReadError(f"{p}: truncated file ({exc})") from exc
        except Exception as exc:  # pydicom raises many types on corrupt input
            raise DicomReadError(
                f"{p}: not a readable DICOM file ({type(exc).__name__}: {exc})"
            ) from exc
    reason = _truncation(ds, caught, size)
    if reason is not None:
        raise DicomReadError(f"{p}: truncated file ({reason})")
    return p, ds


def _set_guessed_transfer_syntax(ds: Dataset) -> None:
    """Give a preamble-less data set the native transfer syntax it was parsed with."""
    if ds.file_meta.get("TransferSyntaxUID"):
        return
    implicit, little = ds.original_encoding
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    elif little:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    else:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian


def read_header(path: str | os.PathLike[str]) -> DicomHeader:
    """Read the header of a DICOM file without its pixel data.

    Parameters
    ----------
    path
        The DICOM file (with or without the Part 10 preamble).

    Returns
    -------
    DicomHeader

    Raises
    ------
    DicomReadError
        If the file is missing, not DICOM, or truncated before the pixel data.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> read_header(get_testdata_file("CT_small.dcm")).modality
    'CT'
    """
    _, ds = _open(path, stop_before_pixels=True)
    return _quiet_header(ds)


def _quiet_header(ds: Dataset) -> DicomHeader:
    # pydicom warns about every odd value it converts (e.g. an invalid UI); radval
    # reads on leniently and does not flood a manifest build with them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _header(ds)


# ---------------------------------------------------------------------------- pixels


def _stored_range(ds: Dataset) -> tuple[float, float] | None:
    bits = _int(ds, "BitsStored") or _int(ds, "BitsAllocated")
    if not bits or "PixelData" not in ds:
        return None
    if _int(ds, "PixelRepresentation") == 1:
        return (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1)
    return (0.0, 2.0**bits - 1)


def _functional_item(ds: Dataset, frame: int, sequence: str) -> Dataset | None:
    """The first item of a functional-group macro for ``frame`` (per-frame wins)."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        seq = per_frame[frame].get(sequence)
        if seq:
            return seq[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        seq = shared[0].get(sequence)
        if seq:
            return seq[0]
    return None


def _frame_dataset(ds: Dataset, frame: int) -> Dataset:
    """A view of ``ds`` with the enhanced multi-frame rescale/window of ``frame``.

    pydicom's ``apply_modality_lut`` / ``apply_voi_lut`` read only top-level
    attributes; enhanced CT/MR/X-ray files keep them in functional groups, so they
    are copied onto a small data set here.
    """
    transform = _functional_item(ds, frame, "PixelValueTransformationSequence")
    voi = _functional_item(ds, frame, "FrameVOILUTSequence")
    if transform is None and voi is None:
        return ds
    out = Dataset()
    for keyword in (
        "BitsStored",
        "BitsAllocated",
        "PixelRepresentation",
        "PhotometricInterpretation",
        "RescaleSlope",
        "RescaleIntercept",
        "ModalityLUTSequence",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
        "VOILUTSequence",
    ):
        if keyword in ds:
            out[keyword] = ds[keyword]
    for item in (transform, voi):
        if item is not None:
            for element in item:
                out[element.tag] = element
    out.file_meta = ds.file_meta
    return out


def _grey(values: np.ndarray, ds: Dataset, *, voi: bool) -> np.ndarray:
    if not voi and "ModalityLUTSequence" not in ds:
        # Rescale (or identity) in float32 directly: the same values as pydicom's
        # float64 ``apply_modality_lut`` rounded to float32, at a fraction of the
        # memory traffic on large radiographs.
        out = values.astype(np.float32)
        if "RescaleSlope" in ds and "RescaleIntercept" in ds:
            slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
            if slope != 1.0:
                out *= np.float32(slope)
            if intercept != 0.0:
                out += np.float32(intercept)
        return out
    out = apply_modality_lut(values, ds)
    if voi:
        out = _pydicom_apply_voi_lut(out, ds)
    return np.asarray(out, dtype=np.float64)


def _grey_frame(raw: np.ndarray, ds: Dataset, *, voi: bool, monochrome1: bool) -> np.ndarray:
    """Modality LUT, optional VOI, then MONOCHROME1 mirroring, for one frame's dataset."""
    out = _grey(raw, ds, voi=voi)
    if monochrome1:
        stored = _stored_range(ds)
        if stored is None:  # float pixel data: no stored range to mirror within
            out = -out
        else:
            ends = _grey(np.array(stored, dtype=np.int64), ds, voi=voi)
            low, high = float(np.min(ends)), float(np.max(ends))
            out = np.subtract(np.asarray(low + high, dtype=out.dtype), out)
    return out.astype(np.float32, copy=False)


def _check_native_length(p: Path, ds: Dataset) -> None:
    keyword = next(k for k in _PIXEL_KEYWORDS if k in ds)
    actual = len(ds[keyword].value)
    if keyword == "PixelData":
        expected = get_expected_length(ds, "bytes")
        bits = f"{ds.BitsAllocated} bits allocated"
    else:
        width = 4 if keyword == "FloatPixelData" else 8
        expected = ds.Rows * ds.Columns * _frames(ds) * width
        bits = f"{width * 8}-bit floats"
    # One trailing NULL byte pads odd-length values (PS3.5 §7.1.1); anything else is wrong.
    if actual == expected or (expected % 2 == 1 and actual == expected + 1):
        return
    samples = _int(ds, "SamplesPerPixel") or 1
    raise DicomReadError(
        f"{p}: inconsistent dimensions (Rows {ds.Rows} × Columns {ds.Columns} × "
        f"frames {_frames(ds)} × samples {samples} at {bits} needs {expected} bytes of "
        f"pixel data, found {actual})"
    )


_SIZE_MISMATCH = (
    "fewer fragments than frames",
    "does not match the expected length",
    "doesn't match the expected amount",
    "could not broadcast",
    "expected length",
)


def _dims_text(ds: Dataset) -> str:
    samples = _int(ds, "SamplesPerPixel") or 1
    return f"Rows {ds.Rows} × Columns {ds.Columns} × frames {_frames(ds)} × samples {samples}"


def _expected_shape(ds: Dataset, frame: int | None) -> tuple[int, ...]:
    shape: tuple[int, ...] = (int(ds.Rows), int(ds.Columns))
    samples = _int(ds, "SamplesPerPixel") or 1
    if samples > 1:
        shape = (*shape, samples)
    if frame is None and _frames(ds) > 1:
        shape = (_frames(ds), *shape)
    return shape


def _check_encapsulated_frames(p: Path, ds: Dataset) -> None:
    """Compare Number of Frames with the frames the encapsulated data can hold."""
    frames = _frames(ds)
    table = ds.get("ExtendedOffsetTable")
    try:
        buffer = BytesIO(ds.PixelData)
        offsets = parse_basic_offsets(buffer)
        fragments, _ = parse_fragments(buffer)
    except Exception as exc:
        raise DicomReadError(
            f"{p}: cannot decode the pixel data (its encapsulation is malformed: {exc})"
        ) from exc
    if table is not None:
        found, source = len(table) // 8, "the Extended Offset Table lists"
    elif offsets:
        found, source = len(offsets), "the Basic Offset Table lists"
    elif fragments < frames:
        found, source = fragments, "the encapsulated pixel data holds only"
    else:
        return
    if found != frames:
        raise DicomReadError(
            f"{p}: inconsistent dimensions (Number of Frames is {frames} but {source} "
            f"{found} frame(s))"
        )


def read_dicom(
    path: str | os.PathLike[str], *, apply_voi_lut: bool = False, frame: int | None = None
) -> DicomImage:
    """Read and decode a DICOM image into a float32 array.

    Grey-level convention (greyscale images):

    1. The **Modality LUT** is always applied: Rescale Slope/Intercept, else a
       Modality LUT Sequence (pydicom's ``apply_modality_lut``), else the Pixel Value
       Transformation of an enhanced multi-frame file (per frame). CT values come
       back in HU.
    2. The **VOI LUT** (a VOI LUT Sequence, else the first Window Centre/Width, with
       its VOI LUT Function) is applied only when ``apply_voi_lut=True`` (pydicom's
       ``apply_voi_lut``); a file without either is returned unchanged.
    3. **MONOCHROME1** images (minimum value displayed white) are mirrored so that
       higher values are always brighter: ``v' = lo + hi - v`` where ``[lo, hi]`` is
       the range that the stored bits (Bits Stored, Pixel Representation) can take
       after the same LUTs. Values therefore stay in the same range; float pixel data
       are negated.

    Colour images (RGB, YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT, PALETTE COLOR) are
    returned as RGB with a trailing axis of 3 and no LUT applied; a PALETTE COLOR image
    is expanded through its palette (pydicom's ``apply_color_lut``), so its values are
    on the palette's scale (e.g. 0–65535 for 16-bit palette entries).

    Parameters
    ----------
    path
        The DICOM file.
    apply_voi_lut
        Apply the VOI LUT / window stored in the file.
    frame
        Decode only this frame (0-based) of a multi-frame file; the result then has
        the shape of a single frame.

    Returns
    -------
    DicomImage
        ``pixels`` float32 of shape ``(rows, cols)``, ``(frames, rows, cols)`` or
        either with a trailing 3 for colour.

    Raises
    ------
    DicomReadError
        Naming the file and the reason: not a DICOM file, truncated file, no pixel
        data, unsupported transfer syntax, inconsistent dimensions, a frame out of
        range, or a codec failure.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> image = read_dicom(get_testdata_file("CT_small.dcm"))
    >>> image.pixels.shape, image.pixels.dtype.name
    ((128, 128), 'float32')

    References
    ----------
    DICOM PS3.3 C.11 (Modality LUT, VOI LUT) and C.7.6.3.1.2 (Photometric
    Interpretation); pydicom ``pydicom.pixels`` (https://pydicom.github.io/).
    """
    p, ds = _open(path, stop_before_pixels=False)
    header = _quiet_header(ds)
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        sop = ds.get("SOPClassUID")
        what = f"; SOP class {UID(str(sop)).name}" if sop else ""
        raise DicomReadError(
            f"{p}: no pixel data (the file has no (7FE0,0010) Pixel Data element{what})"
        )
    tsyntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "") or ""))
    if not tsyntax:
        raise DicomReadError(f"{p}: unsupported transfer syntax (the file meta has none)")
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        decoder = None
    if tsyntax not in SUPPORTED_TRANSFER_SYNTAXES or decoder is None or not decoder.is_available:
        name = tsyntax.name if tsyntax.is_valid else "unknown"
        raise DicomReadError(
            f"{p}: unsupported transfer syntax {tsyntax} ({name}); {_SUPPORTED_TEXT}"
        )
    required = ["Rows", "Columns", "PhotometricInterpretation"]
    if "PixelData" in ds:
        required.append("BitsAllocated")
    for keyword in required:
        if keyword not in ds:
            raise DicomReadError(
                f"{p}: inconsistent dimensions (the image has no {keyword} attribute)"
            )
    frames = _frames(ds)
    if frame is not None and not 0 <= frame < frames:
        raise DicomReadError(
            f"{p}: frame {frame} requested but the file has {frames} frame(s) "
            f"(valid: 0 to {frames - 1})"
        )
    if tsyntax.is_encapsulated:
        _check_encapsulated_frames(p, ds)
    else:
        _check_native_length(p, ds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = _pydicom_pixel_array(ds, index=frame)
    except Exception as exc:
        detail = (str(exc).strip() or type(exc).__name__).splitlines()[0].rstrip(":")
        if any(pattern in str(exc) for pattern in _SIZE_MISMATCH):
            raise DicomReadError(
                f"{p}: inconsistent dimensions ({_dims_text(ds)} do not match the "
                f"encoded pixel data: {' '.join(str(exc).split())})"
            ) from exc
        raise DicomReadError(
            f"{p}: cannot decode the pixel data ({tsyntax.name}): {detail}"
        ) from exc
    expected_shape = _expected_shape(ds, frame)
    if raw.shape != expected_shape:
        raise DicomReadError(
            f"{p}: inconsistent dimensions ({_dims_text(ds)} give shape "
            f"{expected_shape}, the decoded pixel data has shape {raw.shape})"
        )
    pixels = _to_float(raw, ds, header, frame=frame, voi=apply_voi_lut)
    return DicomImage(pixels=pixels, header=header)


def _palette_dataset(ds: Dataset) -> Dataset:
    """Work around pydicom 3.0 reading 16-bit palette LUT data as little endian.

    ``apply_color_lut`` decodes non-segmented palette data with the machine's
    (little-endian) byte order whatever the transfer syntax, so an explicit VR big
    endian file comes out byte-swapped. For such files the three LUTs are handed over
    re-encoded as little endian.
    """
    if ds.file_meta.get("TransferSyntaxUID") != pydicom.uid.ExplicitVRBigEndian:
        return ds
    keywords = [f"{c}PaletteColorLookupTableData" for c in ("Red", "Green", "Blue")]
    if not all(k in ds for k in keywords):
        return ds
    entries = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 2**16
    if len(ds.RedPaletteColorLookupTableData) != 2 * entries:
        return ds
    out = Dataset()
    for element in ds:
        if element.tag.group == 0x0028:
            out[element.tag] = element
    for keyword in keywords:
        swapped = np.frombuffer(ds[keyword].value, dtype=">u2").astype("<u2").tobytes()
        setattr(out, keyword, swapped)
    out.file_meta = ds.file_meta
    return out


def _to_float(
    raw: np.ndarray, ds: Dataset, header: DicomHeader, *, frame: int | None, voi: bool
) -> np.ndarray:
    photometric = (header.photometric or "").upper()
    samples = _int(ds, "SamplesPerPixel") or 1
    if photometric == "PALETTE COLOR":
        return np.asarray(apply_color_lut(raw, _palette_dataset(ds)), dtype=np.float32)
    if samples > 1 or photometric in _COLOUR:
        return raw.astype(np.float32)
    monochrome1 = photometric == "MONOCHROME1"
    multi = frame is None and header.frames > 1
    if not multi:
        index = frame if frame is not None else 0
        return _grey_frame(raw, _frame_dataset(ds, index), voi=voi, monochrome1=monochrome1)
    per_frame: Callable[[int], Dataset] = lambda i: _frame_dataset(ds, i)  # noqa: E731
    if per_frame(0) is ds:  # no functional groups: one transform for all frames
        return _grey_frame(raw, ds, voi=voi, monochrome1=monochrome1)
    out = np.empty(raw.shape, dtype=np.float32)
    for i in range(raw.shape[0]):
        out[i] = _grey_frame(raw[i], per_frame(i), voi=voi, monochrome1=monochrome1)
    return out
