"""The decoded-pixel cache: bit-exact, content-addressed, corruption detected and recovered."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from validation.data.dicom import read_dicom
from validation.data.pixel_cache import PixelCache
from validation.data.synthetic import generate_synthetic_dataset
from validation.errors import InputError


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    ds = generate_synthetic_dataset(
        tmp_path_factory.mktemp("pc"), n_cases=12, seed=3, image_size=48, id_prefix="PC"
    )
    return sorted(ds.root.rglob("*.dcm"))


def _entry(cache: PixelCache) -> Path:
    (entry,) = list(cache.folder.rglob("*.rvpc"))
    return entry


def test_cached_pixels_equal_decoded_pixels_for_every_syntax(
    files: list[Path], tmp_path: Path
) -> None:
    syntaxes = {
        str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID) for p in files
    }
    assert len(syntaxes) >= 3  # the synthetic mix: native, RLE, JPEG-LS, JPEG 2000 ...
    cache = PixelCache(tmp_path / "c")
    for p in files:
        for voi in (False, True):
            image = read_dicom(p, apply_voi_lut=voi)
            for _ in ("miss", "hit"):
                pixels, spacing = cache.get_or_decode(p, apply_voi_lut=voi, frame=None)
                assert pixels.dtype == image.pixels.dtype and pixels.shape == image.pixels.shape
                assert pixels.tobytes() == image.pixels.tobytes()
                assert spacing == image.header.pixel_spacing
    assert (cache.stats.misses, cache.stats.hits) == (2 * len(files), 2 * len(files))
    assert cache.stats.written == 2 * len(files) and cache.stats.corrupt == 0


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "header", "misplaced"])
def test_a_corrupt_entry_is_detected_deleted_and_decoded_again(
    files: list[Path], tmp_path: Path, damage: str
) -> None:
    cache = PixelCache(tmp_path / "c")
    expected, _ = cache.get_or_decode(files[0], apply_voi_lut=False, frame=None)
    entry = _entry(cache)
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[-5] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) - 7]
    elif damage == "empty":
        data = bytearray()
    elif damage == "header":
        data[10] = ord("{") if data[10] != ord("{") else ord("[")
    else:  # another file's (valid) entry under this key
        other = PixelCache(tmp_path / "o")
        other.get_or_decode(files[1], apply_voi_lut=False, frame=None)
        data = bytearray(_entry(other).read_bytes())
    entry.write_bytes(bytes(data))
    again = PixelCache(tmp_path / "c")
    pixels, _ = again.get_or_decode(files[0], apply_voi_lut=False, frame=None)
    assert pixels.tobytes() == expected.tobytes()
    assert (again.stats.corrupt, again.stats.hits, again.stats.misses) == (1, 0, 1)
    # recovered: a good entry is back
    third = PixelCache(tmp_path / "c")
    third.get_or_decode(files[0], apply_voi_lut=False, frame=None)
    assert (third.stats.hits, third.stats.corrupt) == (1, 0)


def test_keys_follow_content_and_decode_settings(files: list[Path], tmp_path: Path) -> None:
    cache = PixelCache(tmp_path / "c")
    target = tmp_path / "image.dcm"
    target.write_bytes(files[0].read_bytes())
    first, _ = cache.get_or_decode(target, apply_voi_lut=False, frame=None)
    # same path, new content: never the stale entry
    target.write_bytes(files[1].read_bytes())
    second, _ = cache.get_or_decode(target, apply_voi_lut=False, frame=None)
    assert second.tobytes() == read_dicom(files[1]).pixels.tobytes()
    assert first.tobytes() != second.tobytes()
    assert cache.stats.misses == 2 and cache.stats.hits == 0
    sha = "0" * 64
    keys = {
        cache.key(sha, apply_voi_lut=False, frame=None),
        cache.key(sha, apply_voi_lut=True, frame=None),
        cache.key(sha, apply_voi_lut=False, frame=0),
        cache.key("1" * 64, apply_voi_lut=False, frame=None),
    }
    assert len(keys) == 4


def test_an_interrupted_write_leaves_no_entry(
    files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PixelCache(tmp_path / "c")

    def no_rename(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    pixels, _ = cache.get_or_decode(files[0], apply_voi_lut=False, frame=None)
    assert pixels.tobytes() == read_dicom(files[0]).pixels.tobytes()
    assert [p for p in (tmp_path / "c").rglob("*") if p.is_file()] == []
    assert cache.stats.written == 0


def test_size_limit_evicts_least_recently_used(files: list[Path], tmp_path: Path) -> None:
    probe = PixelCache(tmp_path / "probe")
    probe.get_or_decode(files[0], apply_voi_lut=False, frame=None)
    one = probe.size_bytes()  # all files are 48x48: entries are the same size
    cache = PixelCache(tmp_path / "c", max_bytes=3 * one + one // 2)
    for p in files[:3]:
        cache.get_or_decode(p, apply_voi_lut=False, frame=None)
    entries = sorted(cache.folder.rglob("*.rvpc"))
    for age, e in enumerate(entries):  # make the order explicit: oldest first
        os.utime(e, (1000 + age, 1000 + age))
    newest = entries[-1]
    cache.get_or_decode(files[3], apply_voi_lut=False, frame=None)  # 4 entries > limit
    left = sorted(cache.folder.rglob("*.rvpc"))
    assert cache.size_bytes() <= int(0.9 * cache.max_bytes)  # type: ignore[operator]
    assert entries[0] not in left and newest in left and cache.stats.evicted >= 1
    with pytest.raises(InputError) as info:
        PixelCache(tmp_path / "x", max_bytes=0)
    assert str(info.value) == "cache size limit: expected a positive byte count, found 0"


def test_a_hit_refreshes_the_entry_for_eviction(files: list[Path], tmp_path: Path) -> None:
    cache = PixelCache(tmp_path / "c")
    cache.get_or_decode(files[0], apply_voi_lut=False, frame=None)
    entry = _entry(cache)
    os.utime(entry, (1000, 1000))
    cache.get_or_decode(files[0], apply_voi_lut=False, frame=None)
    assert entry.stat().st_mtime > 1000 and cache.stats.hits == 1
    assert np.frombuffer(entry.read_bytes()[:6], dtype=np.uint8).tobytes() == b"RVPC1\n"


def test_an_unreadable_path_gives_read_dicoms_own_error(tmp_path: Path) -> None:
    cache = PixelCache(tmp_path / "c")
    folder = tmp_path / "a_folder.dcm"
    folder.mkdir()
    with pytest.raises(Exception) as without:
        read_dicom(folder)
    with pytest.raises(type(without.value)) as with_cache:
        cache.get_or_decode(folder, apply_voi_lut=False, frame=None)
    assert str(with_cache.value) == str(without.value)
    assert cache.stats.written == 0
