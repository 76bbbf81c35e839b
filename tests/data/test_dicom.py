"""Tests of validation.data.dicom: the whole pydicom-data corpus, pixel parity with
pydicom, the grey-level convention, and every DicomReadError message."""

from __future__ import annotations

import shutil
from pathlib import Path

import data_store
import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

from validation.data.dicom import DicomHeader, parse_age, read_dicom, read_header
from validation.errors import DicomReadError

CORPUS = Path(data_store.__file__).parent / "data"
FILES = sorted(p.name for p in CORPUS.glob("*.dcm"))

# Files the corpus ships deliberately broken, and the reason radval must give.
BROKEN = {
    "emri_small_jpeg_2k_lossless_too_short.dcm": (
        "truncated file (the file ends inside an element of undefined length before its delimiter)"
    ),
}
# 120 frames of YCbCr JPEG: decoding all of them takes seconds, so the fast test reads
# two frames and a slow test reads the whole file.
BIG = {"color3d_jpeg_baseline.dcm"}


def _corpus(name: str) -> Path:
    return CORPUS / name


def test_corpus_is_the_installed_pydicom_data_set() -> None:
    # pydicom-data 1.0.0 ships 68 files; if this changes the parametrised test below
    # silently covers a different set, so fail loudly instead.
    assert len(FILES) == 68


@pytest.mark.parametrize("name", FILES)
def test_every_corpus_file_reads_or_fails_with_its_reason(name: str) -> None:
    path = _corpus(name)
    if name in BROKEN:
        with pytest.raises(DicomReadError) as info:
            read_dicom(path)
        assert str(info.value) == f"{path}: {BROKEN[name]}"
        return
    header = read_header(path)
    frames_to_read: list[int | None] = [0, header.frames - 1] if name in BIG else [None]
    for frame in frames_to_read:
        image = read_dicom(path, frame=frame)
        assert image.pixels.dtype == np.float32
        assert image.header == header
        shape: tuple[int, ...] = (header.rows or 0, header.columns or 0)
        colour = header.photometric not in ("MONOCHROME1", "MONOCHROME2")
        if colour:
            shape = (*shape, 3)
        if frame is None and header.frames > 1:
            shape = (header.frames, *shape)
        assert image.pixels.shape == shape
        assert np.isfinite(image.pixels).all()
        voi = read_dicom(path, frame=frame, apply_voi_lut=True)
        assert voi.pixels.shape == shape


@pytest.mark.slow
def test_big_multiframe_jpeg_decodes_whole() -> None:
    image = read_dicom(_corpus("color3d_jpeg_baseline.dcm"))
    assert image.pixels.shape == (120, 480, 640, 3)
    np.testing.assert_array_equal(
        image.pixels[7], read_dicom(_corpus("color3d_jpeg_baseline.dcm"), frame=7).pixels
    )


def _native(name: str) -> bool:
    ds = pydicom.dcmread(_corpus(name), stop_before_pixels=True)
    return not ds.file_meta.TransferSyntaxUID.is_encapsulated


def _enhanced_rescale(ds: pydicom.Dataset) -> bool:
    shared = ds.get("SharedFunctionalGroupsSequence")
    return bool(shared) and "PixelValueTransformationSequence" in shared[0]


NATIVE = [n for n in FILES if n not in BROKEN and n != "OT-PAL-8-face.dcm" and _native(n)]


@pytest.mark.parametrize("name", NATIVE)
@pytest.mark.parametrize("voi", [False, True])
def test_uncompressed_pixels_match_pydicom(name: str, voi: bool) -> None:
    """Expected values built from pydicom's own pixel_array and LUT functions."""
    path = _corpus(name)
    ds = pydicom.dcmread(path)
    raw = ds.pixel_array
    photometric = ds.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        if ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian:
            pytest.skip("pydicom 3.0 decodes big-endian palettes byte-swapped; see twin test")
        expected = apply_color_lut(raw, ds).astype(np.float64)
    elif ds.get("SamplesPerPixel", 1) > 1:
        expected = raw.astype(np.float64)
    else:
        modality = apply_modality_lut(raw, ds)
        expected = np.asarray(modality, dtype=np.float64)
        if _enhanced_rescale(ds):
            item = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
            expected = raw * float(item.RescaleSlope) + float(item.RescaleIntercept)
        elif voi:
            expected = np.asarray(apply_voi_lut(modality, ds), dtype=np.float64)
        if photometric == "MONOCHROME1":
            bits = ds.BitsStored
            ends = np.array([0, 2**bits - 1])
            ends = np.asarray(apply_modality_lut(ends, ds), dtype=np.float64)
            if voi:
                ends = np.asarray(apply_voi_lut(ends, ds), dtype=np.float64)
            expected = ends.min() + ends.max() - expected
    if voi and _enhanced_rescale(ds):
        pytest.skip("enhanced-file windowing is checked in its own test")
    image = read_dicom(path, apply_voi_lut=voi)
    np.testing.assert_allclose(image.pixels, expected.astype(np.float32), rtol=1e-6)


# Lossless-compressed, big-endian and preamble-less files against their uncompressed twin.
TWINS = [
    ("693_J2KR.dcm", "693_UNCR.dcm"),
    ("MR2_J2KR.dcm", "MR2_UNCR.dcm"),
    ("RG1_J2KR.dcm", "RG1_UNCR.dcm"),
    ("RG3_J2KR.dcm", "RG3_UNCR.dcm"),
    ("US1_J2KR.dcm", "US1_UNCR.dcm"),
    ("emri_small_RLE.dcm", "emri_small.dcm"),
    ("emri_small_big_endian.dcm", "emri_small.dcm"),
    ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm"),
    ("emri_small_jpeg_ls_lossless.dcm", "emri_small.dcm"),
    ("OBXXXX1A_rle.dcm", "OBXXXX1A.dcm"),
    ("OBXXXX1A_expb.dcm", "OBXXXX1A.dcm"),
    ("OBXXXX1A_expb_2frame.dcm", "OBXXXX1A_2frame.dcm"),
    ("OBXXXX1A_rle_2frame.dcm", "OBXXXX1A_2frame.dcm"),
    ("gdcm-US-ALOKA-16_big.dcm", "gdcm-US-ALOKA-16.dcm"),
    ("SC_rgb_expb.dcm", "SC_rgb.dcm"),
    ("SC_rgb_expb_16bit.dcm", "SC_rgb_16bit.dcm"),
    ("SC_rgb_expb_32bit_2frame.dcm", "SC_rgb_32bit_2frame.dcm"),
    ("liver_expb.dcm", "liver.dcm"),
]


@pytest.mark.parametrize(("encoded", "reference"), TWINS)
def test_encoded_file_equals_its_uncompressed_twin(encoded: str, reference: str) -> None:
    a = read_dicom(_corpus(encoded)).pixels
    b = read_dicom(_corpus(reference)).pixels
    np.testing.assert_array_equal(a, b)


def test_monochrome1_is_mirrored_so_higher_is_brighter() -> None:
    path = _corpus("RG3_UNCR.dcm")  # CR chest, MONOCHROME1, Bits Stored 10
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.BitsStored == 10
    np.testing.assert_array_equal(read_dicom(path).pixels, 1023.0 - ds.pixel_array)


def test_modality_lut_sequence_is_applied() -> None:
    path = _corpus("mlut_18.dcm")
    ds = pydicom.dcmread(path)
    assert "ModalityLUTSequence" in ds
    expected = apply_modality_lut(ds.pixel_array, ds)
    assert not np.array_equal(expected, ds.pixel_array)
    np.testing.assert_array_equal(read_dicom(path).pixels, expected.astype(np.float32))


def test_voi_lut_sequence_only_on_request() -> None:
    path = _corpus("vlut_04.dcm")
    ds = pydicom.dcmread(path)
    plain = read_dicom(path).pixels
    windowed = read_dicom(path, apply_voi_lut=True).pixels
    np.testing.assert_array_equal(plain, ds.pixel_array.astype(np.float32))
    np.testing.assert_array_equal(windowed, apply_voi_lut(ds.pixel_array, ds).astype(np.float32))
    assert not np.array_equal(plain, windowed)


def test_window_centre_width_clips_ct_to_the_window() -> None:
    path = _corpus("693_UNCR.dcm")
    ds = pydicom.dcmread(path)
    hu = read_dicom(path).pixels
    windowed = read_dicom(path, apply_voi_lut=True).pixels
    centre, width = float(ds.WindowCenter), float(ds.WindowWidth)
    # Linear windowing (PS3.3 C.11.2.1.2): values well below/above the window saturate.
    below = hu < centre - width / 2 - 1
    above = hu > centre + width / 2
    assert below.any() and above.any()
    assert np.unique(windowed[below]).size == 1
    assert np.unique(windowed[above]).size == 1
    assert windowed[below][0] < windowed[above][0]


def test_enhanced_multiframe_rescale_from_functional_groups() -> None:
    path = _corpus("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    assert "RescaleIntercept" not in ds
    image = read_dicom(path)
    np.testing.assert_array_equal(image.pixels, ds.pixel_array.astype(np.float32) - 1024.0)
    one = read_dicom(path, frame=1)
    np.testing.assert_array_equal(one.pixels, image.pixels[1])


def test_single_frame_of_multiframe() -> None:
    path = _corpus("emri_small_RLE.dcm")
    whole = read_dicom(path).pixels
    assert whole.shape == (10, 64, 64)
    for index in (0, 3, 9):
        np.testing.assert_array_equal(read_dicom(path, frame=index).pixels, whole[index])


def test_ybr_is_converted_to_rgb() -> None:
    ybr = read_dicom(_corpus("SC_ybr_full_uncompressed.dcm")).pixels
    rgb = read_dicom(_corpus("SC_rgb.dcm")).pixels
    # Same picture; the 8-bit YCbCr round trip loses a few grey levels at saturated edges.
    assert np.abs(ybr - rgb).max() <= 8.0
    assert np.abs(ybr - rgb).mean() < 1.0
    jpeg = read_dicom(_corpus("US1_J2KI.dcm")).pixels  # YBR_ICT, lossy
    twin = read_dicom(_corpus("US1_UNCI.dcm")).pixels
    assert np.abs(jpeg - twin).mean() < 2.0


def test_header_of_real_chest_radiograph() -> None:
    header = read_header(_corpus("RG1_UNCR.dcm"))
    assert header.modality == "CR"
    assert header.sex == "F"
    assert header.body_part == "CHEST"
    assert header.view == "PA"
    assert header.manufacturer == "Philips Medical Systems"
    assert header.institution == "Philips Medical Systems Hamburg"
    assert (header.rows, header.columns, header.frames) == (1955, 1841, 1)
    assert header.photometric == "MONOCHROME1"
    assert header.transfer_syntax == pydicom.uid.ExplicitVRLittleEndian
    assert header.bits_stored == 15
    assert header.study_uid == "1.3.6.1.4.1.5962.1.2.9.20040826185059.5457"
    assert header.patient_id == "9RG1"
    assert "9RG1" not in repr(header)


def test_header_spacing_and_multiframe() -> None:
    header = read_header(_corpus("693_UNCR.dcm"))
    assert header.pixel_spacing == (0.478516, 0.478516)
    assert read_header(_corpus("emri_small.dcm")).frames == 10


def test_header_is_frozen() -> None:
    header = read_header(_corpus("emri_small.dcm"))
    assert isinstance(header, DicomHeader)
    with pytest.raises(AttributeError):
        header.modality = "CT"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("045Y", 45.0),
        ("006M", 0.5),
        ("003W", 21 / 365.25),
        ("010D", 10 / 365.25),
        ("45", 45.0),
        ("", None),
        ("abc", None),
        ("45X", None),
        (None, None),
    ],
)
def test_parse_age(text: str | None, years: float | None) -> None:
    assert parse_age(text) == (pytest.approx(years) if years is not None else None)


# ---------------------------------------------------------------------- error messages


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.dcm"
    with pytest.raises(DicomReadError) as info:
        read_dicom(path)
    assert str(info.value) == f"{path}: file not found"


def test_not_a_dicom_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("patient notes, not an image\n" * 20)
    for reader in (read_dicom, read_header):
        with pytest.raises(DicomReadError) as info:
            reader(path)
        assert str(info.value) == (
            f"{path}: not a DICOM file (no 'DICM' marker at byte 128 and no DICOM data "
            "element at the start of the file)"
        )


def test_empty_file_is_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(DicomReadError) as info:
        read_dicom(path)
    assert str(info.value) == f"{path}: not a DICOM file (the file is empty)"


def test_truncated_native_pixel_data(tmp_path: Path) -> None:
    data = _corpus("MR2_UNCR.dcm").read_bytes()
    element: object = pydicom.dcmread(_corpus("MR2_UNCR.dcm")).get_item(0x7FE00010)
    assert isinstance(element, RawDataElement)
    start = element.value_tell
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: start + 1000])
    with pytest.raises(DicomReadError) as info:
        read_dicom(path)
    assert str(info.value) == (
        f"{path}: truncated file (the file ends inside element (7FE0,0010) PixelData: "
        "expected 2097152 bytes of value, found 1000)"
    )


def test_truncated_file_meta(tmp_path: Path) -> None:
    data = _corpus("MR2_UNCR.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:150])
    with pytest.raises(DicomReadError) as info:
        read_header(path)
    ds = pydicom.dcmread(_corpus("MR2_UNCR.dcm"), stop_before_pixels=True)
    needed = 132 + 12 + ds.file_meta.FileMetaInformationGroupLength
    assert str(info.value) == (
        f"{path}: truncated file (the file meta information needs {needed} bytes, the file has 150)"
    )


def test_truncated_encapsulated_pixel_data(tmp_path: Path) -> None:
    data = _corpus("emri_small_RLE.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DicomReadError) as info:
        read_dicom(path)
    assert str(info.value) == f"{path}: {BROKEN['emri_small_jpeg_2k_lossless_too_short.dcm']}"


def test_no_pixel_data(tmp_path: Path) -> None:
    ds = pydicom.dcmread(_corpus("emri_small.dcm"))
    del ds.PixelData
    path = tmp_path / "nopixels.dcm"
    ds.save_as(path)
    with pytest.raises(DicomReadError) as info:
        read_dicom(path)
    assert str(info.value) == (
        f"{path}: no pixel data (the file has no (7FE0,0010) Pixel Data element; "
        "SOP class Enhanced MR Image Storage)"
    )
    assert read_header(path).frames == 10  # the header alone is still readable


def test_unsupported_transfer_syntax(tmp_path: Path) -> None:
    path = tmp_path / "video.dcm"
    shutil.copy(_corpus("emri_small_RLE.dcm"), path)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML
    ds.save_as(path)
    with pytest.raises(DicomReadError) as info:
        read_dicom(path)
    assert str(info.value) == (
        f"{path}: unsupported transfer syntax 1.2.840.10008.1.2.4.100 (MPEG2 Main Profile "
        "/ Main Level); radval decodes uncompressed (implicit/explicit VR little endian, "
        "explicit VR big endian, deflated), RLE, JPEG baseline/extended/lossless, JPEG-LS "
        "and JPEG 2000"
    )


def test_inconsistent_dimensions_native(tmp_path: Path) -> None:
    ds = pydicom.dcmread(_corpus("emri_small.dcm"))
    ds.Rows = 65
    path = tmp_path / "dims.dcm"
    ds.save_as(path)
    with pytest.raises(DicomReadError) as info:
        read_dicom(path)
    assert str(info.value) == (
        f"{path}: inconsistent dimensions (Rows 65 × Columns 64 × frames 10 × samples 1 "
        "at 16 bits allocated needs 83200 bytes of pixel data, found 81920)"
    )


def test_inconsistent_dimensions_frames_vs_offset_table(tmp_path: Path) -> None:
    ds = pydicom.dcmread(_corpus("emri_small_RLE.dcm"))
    ds.NumberOfFrames = 9
    path = tmp_path / "frames.dcm"
    ds.save_as(path)
    with pytest.raises(DicomReadError) as info:
        read_dicom(path)
    assert str(info.value) == (
        f"{path}: inconsistent dimensions (Number of Frames is 9 but the Basic Offset "
        "Table lists 10 frame(s))"
    )


def test_inconsistent_dimensions_encoded_size(tmp_path: Path) -> None:
    ds = pydicom.dcmread(_corpus("emri_small_jpeg_ls_lossless.dcm"))
    ds.Rows = 65
    path = tmp_path / "rows.dcm"
    ds.save_as(path)
    with pytest.raises(DicomReadError) as info:
        read_dicom(path)
    assert str(info.value).startswith(
        f"{path}: inconsistent dimensions (Rows 65 × Columns 64 × frames 10 × samples 1 "
        "do not match the encoded pixel data: "
    )


def test_frame_out_of_range() -> None:
    path = _corpus("emri_small.dcm")
    with pytest.raises(DicomReadError) as info:
        read_dicom(path, frame=10)
    assert str(info.value) == (
        f"{path}: frame 10 requested but the file has 10 frame(s) (valid: 0 to 9)"
    )


def test_truncated_inside_an_element_header(tmp_path: Path) -> None:
    source = _corpus("MR2_UNCR.dcm")
    element: object = pydicom.dcmread(source, stop_before_pixels=True).get_item(0x00080016)
    assert isinstance(element, RawDataElement)
    end = element.value_tell + element.length
    path = tmp_path / "cut.dcm"
    path.write_bytes(source.read_bytes()[: end + 3])
    with pytest.raises(DicomReadError) as info:
        read_header(path)
    assert str(info.value) == (
        f"{path}: truncated file (the file ends inside the header of the element after "
        "(0008,0016) SOPClassUID (3 byte(s) left))"
    )


def test_truncated_inside_file_meta(tmp_path: Path) -> None:
    path = tmp_path / "cut.dcm"
    path.write_bytes(_corpus("MR2_UNCR.dcm").read_bytes()[:136])
    with pytest.raises(DicomReadError) as info:
        read_header(path)
    assert (
        str(info.value)
        == f"{path}: truncated file (the file ends inside the file meta information)"
    )


@pytest.mark.parametrize("name", ["RG3_J2KR.dcm", "SC_rgb.dcm", "OBXXXX1A.dcm", "JPEG-LL.dcm"])
def test_frame_zero_of_single_frame_file(name: str) -> None:
    whole = read_dicom(_corpus(name)).pixels
    np.testing.assert_array_equal(read_dicom(_corpus(name), frame=0).pixels, whole)
