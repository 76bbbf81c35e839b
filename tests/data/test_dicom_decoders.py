"""Decoder choice: the preferred plugin per transfer syntax gives pydicom's default pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import get_decoder, pixel_array

import validation.data.dicom as dicom_mod
from validation.data.dicom import PREFERRED_DECODERS, decoding_plugin, read_dicom
from validation.data.synthetic import generate_synthetic_dataset

PYDICOM_FILES = [
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_rle_16bit.dcm",
    "SC_rgb_rle_32bit.dcm",
    "SC_rgb_rle_2frame.dcm",
    "rtdose_rle.dcm",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    ds = generate_synthetic_dataset(
        tmp_path_factory.mktemp("dec"), n_cases=16, seed=11, image_size=96, id_prefix="DC"
    )
    synthetic = sorted(ds.root.rglob("*.dcm"))
    return synthetic + [Path(get_testdata_file(name)) for name in PYDICOM_FILES]


def test_the_preferred_plugins_are_installed_here() -> None:
    assert decoding_plugin(pydicom.uid.JPEGLSLossless) == "pyjpegls"
    assert decoding_plugin(pydicom.uid.RLELossless) == "pylibjpeg"
    assert decoding_plugin(pydicom.uid.JPEGBaseline8Bit) == ""  # lossy: pydicom's choice
    assert decoding_plugin(pydicom.uid.ExplicitVRLittleEndian) == ""


def test_every_installed_plugin_decodes_the_same_integers(files: list[Path]) -> None:
    checked: dict[str, int] = {}
    for path in files:
        ds = pydicom.dcmread(path)
        ts = ds.file_meta.TransferSyntaxUID
        if ts not in PREFERRED_DECODERS:
            continue
        plugins = sorted(get_decoder(ts).available_plugins)
        assert len(plugins) >= 2, (ts.name, plugins)  # else there is nothing to compare
        arrays = [pixel_array(ds, decoding_plugin=p) for p in plugins]
        for p, arr in zip(plugins[1:], arrays[1:], strict=True):
            assert arr.dtype == arrays[0].dtype, (path.name, p)
            assert np.array_equal(arr, arrays[0]), (path.name, p)
        checked[ts.name] = checked.get(ts.name, 0) + 1
    assert set(checked) == {"JPEG-LS Lossless Image Compression", "RLE Lossless"}
    assert min(checked.values()) >= 3


def test_read_dicom_pixels_are_bit_identical_to_pydicoms_default(
    files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = [read_dicom(p).pixels for p in files]
    monkeypatch.setattr(dicom_mod, "PREFERRED_DECODERS", {})
    assert decoding_plugin(pydicom.uid.JPEGLSLossless) == ""
    default = [read_dicom(p).pixels for p in files]
    for path, a, b in zip(files, ours, default, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, path.name
        assert a.tobytes() == b.tobytes(), path.name
