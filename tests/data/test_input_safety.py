"""Hostile inputs to the data layer: paths that leave their folder, special files,
spreadsheet formulas in CSV outputs, duplicate header columns, header values that can
never be valid (``manifest build`` and ``manifest check`` must agree)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from validation.data.manifest import build_manifest
from validation.data.synthetic import generate_synthetic_dataset
from validation.errors import InputError, ManifestError
from validation.io import path_escape_reason, resolve_inside


@pytest.fixture(scope="module")
def dicoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = generate_synthetic_dataset(tmp_path_factory.mktemp("safety"), n_cases=4, seed=3,
                                       image_size=32)
    return synth.root


def _images(dicoms: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "dicom"
    shutil.copytree(dicoms / "images", folder)
    return folder


# ------------------------------------------------------------------ one rule for user paths


@pytest.mark.parametrize(("value", "reason"), [
    ("/etc/passwd", "expected a path relative to F, found absolute path '/etc/passwd'"),
    ("C:\\x.dcm", "expected a path relative to F, found absolute path 'C:\\x.dcm'"),
    ("C:x.dcm", "expected a path relative to F, found absolute path 'C:x.dcm'"),
    ("\\\\server\\share\\x.dcm",
     "expected a path relative to F, found absolute path '\\\\server\\share\\x.dcm'"),
    ("a/../../x.dcm", "expected a path inside F, found 'a/../../x.dcm' (it uses '..')"),
    ("a\\..\\..\\x.dcm", "expected a path inside F, found 'a\\..\\..\\x.dcm' (it uses '..')"),
    ("a\x00.dcm", "expected a path inside F, found 'a\\x00.dcm' (it contains a NUL character)"),
])
def test_path_escape_reason(tmp_path: Path, value: str, reason: str) -> None:
    assert path_escape_reason(tmp_path, value, folder="F") == reason


def test_symbolic_links_are_judged_by_where_they_lead(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "in.dcm").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(root / "sub" / "in.dcm", root / "inside.dcm")
    os.symlink(tmp_path / "secret.txt", root / "out.dcm")
    os.symlink(tmp_path, root / "up")
    os.symlink(root / "loop", root / "loop")
    assert path_escape_reason(root, "inside.dcm") is None
    assert path_escape_reason(root, "sub/in.dcm") is None
    assert path_escape_reason(root, "out.dcm") == (
        "expected a path inside the table's folder, found 'out.dcm' (a symbolic link leads "
        "outside it)")
    assert path_escape_reason(root, "up/secret.txt") == (
        "expected a path inside the table's folder, found 'up/secret.txt' (a symbolic link "
        "leads outside it)")
    loop = path_escape_reason(root, "loop/x.dcm")
    assert loop is not None and loop.startswith("expected a path inside the table's folder, "
                                                "found 'loop/x.dcm' (")
    assert resolve_inside(root, "inside.dcm", where="t.csv: row 2") == root / "inside.dcm"
    with pytest.raises(InputError) as info:
        resolve_inside(root, "out.dcm", where="t.csv: row 3, column 'mask_path'",
                       folder="the predictions table's folder")
    assert str(info.value) == (
        "t.csv: row 3, column 'mask_path': expected a path inside the predictions table's "
        "folder, found 'out.dcm' (a symbolic link leads outside it)")


# ------------------------------------------------------------------ manifest build walks


def test_build_refuses_a_symlink_out_of_the_dicom_folder(dicoms: Path, tmp_path: Path) -> None:
    folder = _images(dicoms, tmp_path)
    outside = tmp_path / "elsewhere.dcm"
    shutil.copy(next(folder.glob("*.dcm")), outside)
    os.symlink(outside, folder / "zz_link.dcm")
    with pytest.raises(ManifestError) as info:
        build_manifest(folder, salt="s")
    assert str(info.value) == (
        f"{folder / 'zz_link.dcm'}: a symbolic link that leads outside {folder} (to {outside}); "
        "refused: a manifest may only name files inside its folder (remove the link or copy "
        "the file in)")


def test_build_refuses_a_linked_folder_outside(dicoms: Path, tmp_path: Path) -> None:
    folder = _images(dicoms, tmp_path)
    (tmp_path / "other").mkdir()
    os.symlink(tmp_path / "other", folder / "linked")
    os.symlink(tmp_path / "other", folder / "linked2")
    with pytest.raises(ManifestError, match=r"linked: a symbolic link that leads outside .* "
                                            r"\(and 1 more\); refused"):
        build_manifest(folder, salt="s")


def test_build_keeps_links_that_stay_inside(dicoms: Path, tmp_path: Path) -> None:
    folder = _images(dicoms, tmp_path)
    first = sorted(folder.glob("*.dcm"))[0]
    (folder / "alias").mkdir()
    os.symlink(first, folder / "alias" / "again.dcm")
    built = build_manifest(folder, salt="s")
    assert "alias/again.dcm" in list(built["path"])


def test_build_never_opens_a_fifo(dicoms: Path, tmp_path: Path) -> None:
    folder = _images(dicoms, tmp_path)
    os.mkfifo(folder / "pipe.dcm")
    seen: list[tuple[str, str]] = []
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(build_manifest(
        folder, salt="s", on_skip=lambda rel, why: seen.append((rel, why)))), daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():  # unblock the reader so the test process can end
        fd = os.open(folder / "pipe.dcm", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("manifest build blocked on a FIFO")
    assert ("pipe.dcm", "not a regular file (a FIFO, socket or device)") in seen
    assert len(result) == 1
