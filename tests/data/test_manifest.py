"""Tests of validation.data.manifest: every ManifestError message, row numbering,
CSV/Parquet, leakage, building from DICOM with pseudonymisation and label joins."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from validation.data.manifest import (
    LeakageReport,
    Manifest,
    build_manifest,
    check_leakage,
    load_manifest,
    manifest_columns,
    manifest_problems,
    pseudonymise_id,
    write_manifest,
)
from validation.data.synthetic import SYNTHETIC_SALT, generate_synthetic_dataset
from validation.errors import ManifestError
from validation.io import sha256_file

HEADER = "case_id,patient_id,path,label,sha256"


def _folder(tmp_path: Path, names: tuple[str, ...] = ("a.dcm", "b.dcm", "c.dcm")) -> Path:
    (tmp_path / "img").mkdir(exist_ok=True)
    for i, name in enumerate(names):
        (tmp_path / "img" / name).write_bytes(f"image {i}".encode())
    return tmp_path


def _csv(tmp_path: Path, lines: list[str], name: str = "manifest.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _sha(tmp_path: Path, name: str) -> str:
    return sha256_file(tmp_path / "img" / name)


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(ManifestError) as info:
        load_manifest(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


@pytest.fixture
def good(tmp_path: Path) -> Path:
    _folder(tmp_path)
    return _csv(
        tmp_path,
        [
            HEADER,
            f"c001,p1,img/a.dcm,1,{_sha(tmp_path, 'a.dcm')}",
            f"c002,p1,img/b.dcm,0,{_sha(tmp_path, 'b.dcm')}",
            f"c003,p2,img/c.dcm,0,{_sha(tmp_path, 'c.dcm')}",
        ],
    )


def test_loads_valid_manifest(good: Path) -> None:
    m = load_manifest(good, verify_hashes=True)
    assert isinstance(m, Manifest)
    assert m.path == good and m.root == good.parent
    assert m.label_columns == ("label",)
    assert list(m.frame["case_id"]) == ["c001", "c002", "c003"]
    assert m.frame["label"].dtype == np.int64
    assert list(m.frame["label"]) == [1, 0, 0]
    assert m.rows == (2, 3, 4)
    assert m.file_path("c002") == good.parent / "img" / "b.dcm"


def test_ids_stay_text(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm",))
    path = _csv(tmp_path, ["case_id,patient_id,path,label", "007,0012,img/a.dcm,1"])
    frame = load_manifest(path).frame
    assert frame.loc[0, "case_id"] == "007"
    assert frame.loc[0, "patient_id"] == "0012"


def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    assert _error(path) == f"{path}: file not found"


def test_missing_required_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["case_id,path,label", "c001,img/a.dcm,1"])
    assert _error(path) == (
        f"{path}: missing required column 'patient_id' (found columns: case_id, path, label)"
    )


def test_missing_label_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["case_id,patient_id,path", "c001,p1,img/a.dcm"])
    assert _error(path, check_files=False) == (
        f"{path}: missing required column 'label' (found columns: case_id, patient_id, path)"
    )
    # Without required labels the same file is fine.
    assert load_manifest(path, check_files=False, require_labels=False).label_columns == ()


def test_no_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path, [HEADER])
    assert _error(path) == f"{path}: no rows (expected at least one case below the header)"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("")
    assert _error(path) == f"{path}: empty file (expected a header line with column names)"


def test_duplicate_case_id(tmp_path: Path) -> None:
    _folder(tmp_path)
    path = _csv(
        tmp_path,
        [
            "case_id,patient_id,path,label",
            "c001,p1,img/a.dcm,1",
            "c002,p1,img/b.dcm,0",
            "c001,p2,img/c.dcm,0",
        ],
    )
    assert _error(path) == (
        f"{path}: row 4 (case_id 'c001'), column 'case_id': expected a unique case ID, found "
        "a duplicate of row 2"
    )


def test_label_outside_domain(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm", "b.dcm", "c.dcm", "d.dcm", "e.dcm"))
    path = _csv(
        tmp_path,
        [
            "case_id,patient_id,path,label",
            "c001,p1,img/a.dcm,1",
            "c002,p1,img/b.dcm,0",
            "c003,p2,img/c.dcm,1",
            "c004,p3,img/d.dcm,2",
            "c005,p3,img/e.dcm,0",
        ],
    )
    # The brief's example: the bad value is on line 5 of the file.
    assert _error(path) == (
        f"{path}: row 5 (case_id 'c004'), column 'label': expected 0 or 1, found '2'"
    )


@pytest.mark.parametrize("bad", ["yes", "-1", "0.5", "1e0x"])
def test_other_bad_labels(tmp_path: Path, bad: str) -> None:
    _folder(tmp_path, ("a.dcm",))
    path = _csv(tmp_path, ["case_id,patient_id,path,label", f"c001,p1,img/a.dcm,{bad}"])
    assert _error(path) == (
        f"{path}: row 2 (case_id 'c001'), column 'label': expected 0 or 1, found '{bad}'"
    )


def test_missing_label(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm", "b.dcm"))
    path = _csv(
        tmp_path,
        [
            "case_id,patient_id,path,label",
            "c001,p1,img/a.dcm,1",
            "c002,p1,img/b.dcm,",
        ],
    )
    assert _error(path) == (
        f"{path}: row 3 (case_id 'c002'), column 'label': missing label (expected 0 or 1)"
    )
    frame = load_manifest(path, require_labels=False).frame
    assert str(frame["label"].dtype) == "Int64"
    assert frame["label"].isna().tolist() == [False, True]


def test_named_label_columns(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm",))
    path = _csv(tmp_path, ["case_id,patient_id,path,nodule,mass", "c001,p1,img/a.dcm,1,x"])
    assert _error(path, label_columns=("nodule", "mass")) == (
        f"{path}: row 2 (case_id 'c001'), column 'mass': expected 0 or 1, found 'x'"
    )
    assert load_manifest(path, label_columns=("nodule",)).label_columns == ("nodule",)


def test_absolute_path(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm",))
    target = (tmp_path / "img" / "a.dcm").resolve()
    path = _csv(tmp_path, ["case_id,patient_id,path,label", f"c001,p1,{target},1"])
    assert _error(path) == (
        f"{path}: row 2 (case_id 'c001'), column 'path': expected a path relative to the "
        f"manifest's folder, found absolute path '{target}'"
    )


def test_path_with_dotdot(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    _folder(tmp_path, ("a.dcm",))
    path = _csv(sub, ["case_id,patient_id,path,label", "c001,p1,../img/a.dcm,1"])
    assert _error(path) == (
        f"{path}: row 2 (case_id 'c001'), column 'path': expected a path inside the "
        "manifest's folder, found '../img/a.dcm' (it uses '..')"
    )


def test_windows_absolute_path(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["case_id,patient_id,path,label", r"c001,p1,C:\data\a.dcm,1"])
    assert _error(path, check_files=False) == (
        f"{path}: row 2 (case_id 'c001'), column 'path': expected a path relative to the "
        "manifest's folder, found absolute path 'C:\\data\\a.dcm'"
    )


def test_symlink_leaving_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside.dcm"
    outside.write_bytes(b"x")
    inner = tmp_path / "m"
    inner.mkdir()
    os.symlink(outside, inner / "link.dcm")
    path = _csv(inner, ["case_id,patient_id,path,label", "c001,p1,link.dcm,1"])
    assert _error(path) == (
        f"{path}: row 2 (case_id 'c001'), column 'path': expected a path inside the "
        "manifest's folder, found 'link.dcm' (a symbolic link leads outside it)"
    )


def test_missing_file(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm",))
    path = _csv(
        tmp_path,
        [
            "case_id,patient_id,path,label",
            "c001,p1,img/a.dcm,1",
            "c002,p2,img/zzz.dcm,0",
        ],
    )
    assert _error(path) == (
        f"{path}: row 3 (case_id 'c002'), column 'path': expected an existing file, found "
        "no file at 'img/zzz.dcm'"
    )
    assert len(load_manifest(path, check_files=False).frame) == 2


def test_path_is_a_directory(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm",))
    path = _csv(tmp_path, ["case_id,patient_id,path,label", "c001,p1,img,1"])
    assert _error(path) == (
        f"{path}: row 2 (case_id 'c001'), column 'path': expected a file, found a directory "
        "at 'img'"
    )


def test_sha256_mismatch(good: Path) -> None:
    (good.parent / "img" / "b.dcm").write_bytes(b"changed")
    load_manifest(good)  # hashes are only recomputed on request
    expected = pd.read_csv(good)["sha256"][1]
    actual = hashlib.sha256(b"changed").hexdigest()
    assert _error(good, verify_hashes=True) == (
        f"{good}: row 3 (case_id 'c002'), column 'sha256': expected the file's hash "
        f"{expected}, found {actual} (the file has changed)"
    )


def test_malformed_sha256(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm",))
    path = _csv(tmp_path, [HEADER, "c001,p1,img/a.dcm,1,abc"])
    assert _error(path) == (
        f"{path}: row 2 (case_id 'c001'), column 'sha256': expected 64 hexadecimal digits, "
        "found 'abc'"
    )


def test_bad_age(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm", "b.dcm"))
    path = _csv(
        tmp_path,
        [
            "case_id,patient_id,path,label,age",
            "c001,p1,img/a.dcm,1,45",
            "c002,p2,img/b.dcm,0,old",
        ],
    )
    assert _error(path) == (
        f"{path}: row 3 (case_id 'c002'), column 'age': expected an age in years (0 to 150), "
        "found 'old'"
    )


def test_empty_ids(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm",))
    path = _csv(tmp_path, ["case_id,patient_id,path,label", ",p1,img/a.dcm,1"])
    assert _error(path) == f"{path}, row 2, column 'case_id': expected a case ID, found ''".replace(
        f"{path}, row", f"{path}: row"
    )
    path = _csv(tmp_path, ["case_id,patient_id,path,label", "c1,,img/a.dcm,1"], "m2.csv")
    assert _error(path) == (
        f"{path}: row 2 (case_id 'c1'), column 'patient_id': expected a patient ID, found ''"
    )


def test_row_is_the_csv_line_number(tmp_path: Path) -> None:
    """Blank lines and quoted multi-line fields still count as lines of the file."""
    _folder(tmp_path, ("a.dcm", "b.dcm"))
    path = tmp_path / "m.csv"
    path.write_text(
        "case_id,patient_id,path,label,note\n"
        'c001,p1,img/a.dcm,1,"first line\nsecond line"\n'
        "\n"
        "c002,p2,img/b.dcm,7,plain\n"
    )
    assert _error(path) == (
        f"{path}: row 5 (case_id 'c002'), column 'label': expected 0 or 1, found '7'"
    )


def test_many_problems_are_counted_and_listed(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm",))
    path = _csv(
        tmp_path,
        [
            "case_id,patient_id,path,label",
            "c001,p1,img/a.dcm,5",
            "c001,p1,img/a.dcm,6",
        ],
    )
    message = _error(path)
    assert message.endswith(" (and 2 more problems)")
    _, problems = manifest_problems(path)
    assert problems == [
        f"{path}: row 2 (case_id 'c001'), column 'label': expected 0 or 1, found '5'",
        f"{path}: row 3 (case_id 'c001'), column 'case_id': expected a unique case ID, found "
        "a duplicate of row 2",
        f"{path}: row 3 (case_id 'c001'), column 'label': expected 0 or 1, found '6'",
    ]


def test_parquet_round_trip_and_rows(tmp_path: Path, good: Path) -> None:
    frame = pd.read_csv(good, dtype=str)
    frame.loc[2, "label"] = "3"
    out = tmp_path / "m.parquet"
    write_manifest(frame, out)
    assert manifest_columns(out) == tuple(frame.columns)
    assert _error(out) == (
        f"{out}: row 4 (case_id 'c003'), column 'label': expected 0 or 1, found '3'"
    )
    frame["label"] = [1, 0, 0]  # integer labels in Parquet
    write_manifest(frame, out)
    assert list(load_manifest(out, verify_hashes=True).frame["label"]) == [1, 0, 0]


def test_write_manifest_csv(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "m.csv"
    write_manifest(pd.DataFrame({"case_id": ["a", "b"], "label": [1, 0]}), out)
    assert out.read_text() == "case_id,label\na,1\nb,0\n"
    assert [p.name for p in out.parent.iterdir()] == ["m.csv"]


# ---------------------------------------------------------------------- leakage


def _manifest(tmp_path: Path, name: str, rows: list[tuple[str, str, str, str]]) -> Manifest:
    """rows: (case_id, patient_id, study_uid, file content)."""
    folder = tmp_path / name
    folder.mkdir()
    lines = ["case_id,patient_id,path,label,study_uid,sha256"]
    for case, patient, study, content in rows:
        (folder / f"{case}.dcm").write_text(content)
        digest = hashlib.sha256(content.encode()).hexdigest()
        lines.append(f"{case},{patient},{case}.dcm,0,{study},{digest}")
    return load_manifest(_csv(folder, lines))


def test_leakage_clean(tmp_path: Path) -> None:
    test = _manifest(tmp_path, "test", [("t1", "pa", "s1", "x1"), ("t2", "pb", "s2", "x2")])
    train = _manifest(tmp_path, "train", [("r1", "pc", "s3", "y1")])
    report = check_leakage(test, train)
    assert report == LeakageReport((), (), (), ())
    assert report.ok


def test_leakage_found(tmp_path: Path) -> None:
    test = _manifest(
        tmp_path,
        "test",
        [("t1", "pa", "s1", "x1"), ("t2", "pb", "s2", "x2"), ("t3", "pd", "s4", "same")],
    )
    train = _manifest(
        tmp_path,
        "train",
        [("r1", "pb", "s9", "y1"), ("r2", "pe", "s1", "y2"), ("r3", "pf", "s8", "same")],
    )
    report = check_leakage(test, train)
    assert report.shared_patients == ("pb",)
    assert report.shared_studies == ("s1",)
    assert report.identical_images == (("t3", "r3"),)
    assert not report.ok


def test_leakage_hashes_files_without_sha_column(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.dcm").write_text("same bytes")
        _csv(tmp_path / name, ["case_id,patient_id,path,label", f"{name}1,p{name},x.dcm,0"])
    report = check_leakage(
        load_manifest(tmp_path / "a" / "manifest.csv"),
        load_manifest(tmp_path / "b" / "manifest.csv"),
    )
    assert report.identical_images == (("a1", "b1"),)
    assert report.not_checked == ("studies: a manifest has no 'study_uid' column",)


# ---------------------------------------------------------------------- pseudonyms


def test_pseudonymise_id_is_keyed_hmac() -> None:
    value = pseudonymise_id("MRN-0042", "secret")
    expected = hmac.new(b"secret", b"MRN-0042", hashlib.sha256).hexdigest()[:16]
    assert value == "P-" + expected
    assert pseudonymise_id("MRN-0042", "secret") == value
    assert pseudonymise_id("MRN-0042", "other") != value
    assert pseudonymise_id("MRN-0043", "secret") != value
    with pytest.raises(ValueError, match="non-empty salt"):
        pseudonymise_id("MRN-0042", "")


# ---------------------------------------------------------------------- building


@pytest.fixture(scope="module")
def dicoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = generate_synthetic_dataset(
        tmp_path_factory.mktemp("b"), n_cases=8, seed=5, image_size=32
    )
    return synth.root


def _copy_images(dicoms: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "dicom"
    shutil.copytree(dicoms / "images", folder)
    return folder


def test_build_from_synthetic_matches_its_manifest(dicoms: Path) -> None:
    built = build_manifest(dicoms / "images", salt=SYNTHETIC_SALT)
    truth = pd.read_csv(dicoms / "manifest.csv", dtype={"case_id": str})
    assert list(built["case_id"]) == list(truth["case_id"])
    assert list(built["path"]) == [f"{c}.dcm" for c in truth["case_id"]]
    for column in (
        "patient_id",
        "site",
        "manufacturer",
        "manufacturer_model",
        "sex",
        "view",
        "body_part",
        "study_uid",
        "sha256",
    ):
        assert list(built[column]) == list(truth[column]), column
    assert np.allclose(built["age"].astype(float), truth["age"])
    assert "label" not in built.columns
    assert built.attrs["skipped"] == []


def test_build_reports_unreadable_files_by_name(dicoms: Path, tmp_path: Path) -> None:
    folder = _copy_images(dicoms, tmp_path)
    (folder / "notes.txt").write_text("not an image")
    data = (folder / "T00001.dcm").read_bytes()
    (folder / "sub").mkdir()
    (folder / "sub" / "cut.dcm").write_bytes(data[:400])
    (folder / ".hidden.dcm").write_bytes(data)
    seen: list[tuple[str, str]] = []
    built = build_manifest(folder, salt="s", on_skip=lambda rel, why: seen.append((rel, why)))
    assert len(built) == 8
    names = [rel for rel, _ in seen]
    assert names == ["notes.txt", "sub/cut.dcm"]
    assert seen[0][1] == (
        "not a DICOM file (no 'DICM' marker at byte 128 and no DICOM data element at the start "
        "of the file)"
    )
    assert seen[1][1].startswith("truncated file (")
    assert built.attrs["skipped"] == seen


def test_build_never_writes_identities(dicoms: Path, tmp_path: Path) -> None:
    folder = _copy_images(dicoms, tmp_path)
    labels = tmp_path / "labels.csv"
    raw = {}
    for file in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(file, stop_before_pixels=True)
        raw[str(ds.PatientID)] = str(ds.PatientName)
    labels.write_text("patient_id,label\n" + "".join(f"{pid},1\n" for pid in raw))
    built = build_manifest(folder, labels_path=labels, salt="site-secret")
    out = tmp_path / "m.csv"
    write_manifest(built, out)
    text = out.read_text()
    for pid, name in raw.items():
        assert pid not in text and name not in text
    assert set(built["patient_id"]) == {pseudonymise_id(p, "site-secret") for p in raw}
    assert list(built["label"]) == [1] * 8


def test_build_joins_labels_by_case_id(dicoms: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    truth = pd.read_csv(dicoms / "manifest.csv", dtype={"case_id": str})
    truth[["case_id", "label"]].iloc[:-1].to_csv(labels, index=False)
    with open(labels, "a") as handle:
        handle.write("ZZZ9,1\n")
    seen: list[tuple[str, str]] = []
    built = build_manifest(
        dicoms / "images",
        labels_path=labels,
        salt="s",
        on_skip=lambda rel, why: seen.append((rel, why)),
    )
    assert list(built.columns[:4]) == ["case_id", "patient_id", "path", "label"]
    assert list(built["label"].iloc[:-1]) == list(truth["label"].iloc[:-1])
    assert pd.isna(built["label"].iloc[-1])
    assert seen == [
        (str(labels), "1 label row(s) match no image by 'case_id' (e.g. 'ZZZ9')"),
        (
            str(labels),
            "1 image(s) have no row in it (by 'case_id'): their label column(s) are left blank",
        ),
    ]


def test_build_joins_labels_by_study(dicoms: Path, tmp_path: Path) -> None:
    truth = pd.read_csv(dicoms / "manifest.csv", dtype={"case_id": str})
    labels = tmp_path / "labels.csv"
    truth[["study_uid", "label"]].to_csv(labels, index=False)
    built = build_manifest(dicoms / "images", labels_path=labels, salt="s")
    assert list(built["label"]) == list(truth["label"])


def test_build_label_errors(dicoms: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("case_id,label\nT00001,1\nT00002,0\nT00001,0\n")
    with pytest.raises(ManifestError) as info:
        build_manifest(dicoms / "images", labels_path=labels, salt="s")
    assert str(info.value) == (
        f"{labels}: row 4, column 'case_id': expected a unique key, found a duplicate of row 2 "
        "('T00001')"
    )
    labels.write_text("name,label\nx,1\n")
    with pytest.raises(ManifestError) as info:
        build_manifest(dicoms / "images", labels_path=labels, salt="s")
    assert str(info.value) == (
        f"{labels}: missing key column (expected one of case_id, path, sop_instance_uid, "
        "study_uid, patient_id; found columns: name, label)"
    )
    labels.write_text("case_id,sex\nT00001,F\n")
    with pytest.raises(ManifestError) as info:
        build_manifest(dicoms / "images", labels_path=labels, salt="s")
    assert str(info.value) == (
        f"{labels}: column 'sex' would overwrite a column read from the DICOM headers (rename it)"
    )


def test_build_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        build_manifest(tmp_path / "nope", salt="s")
    assert str(info.value) == (
        f"{tmp_path / 'nope'}: expected a folder of DICOM files, found no such folder"
    )
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ManifestError) as info:
        build_manifest(tmp_path, salt="s")
    assert str(info.value) == f"{tmp_path}: no readable DICOM image found (1 file(s))"
    with pytest.raises(ManifestError) as info:
        build_manifest(tmp_path, salt="")
    assert str(info.value) == "a pseudonymisation salt is required (got an empty salt)"


def test_example_in_data_manifests_is_valid() -> None:
    """data_manifests/README.md shows this check's output; keep the two in step."""
    root = Path(__file__).resolve().parents[2] / "data_manifests"
    example = load_manifest(root / "example" / "manifest.csv", verify_hashes=True)
    frame = example.frame
    assert (len(frame), frame["patient_id"].nunique(), int(frame["label"].sum())) == (8, 6, 3)
    readme = (root / "README.md").read_text()
    assert "valid (8 case(s), 6 patient(s), label: 3 positive)" in readme


def test_mask_path_is_checked_like_path(tmp_path: Path) -> None:
    _folder(tmp_path, ("a.dcm", "b.dcm"))
    path = _csv(
        tmp_path,
        [
            "case_id,patient_id,path,label,mask_path",
            "c001,p1,img/a.dcm,1,img/b.dcm",
            "c002,p2,img/b.dcm,0,",
            "c003,p3,img/a.dcm,0,../m.nii.gz",
        ],
    )
    assert _error(path) == (
        f"{path}: row 4 (case_id 'c003'), column 'mask_path': expected a path inside the "
        "manifest's folder, found '../m.nii.gz' (it uses '..')"
    )
    path = _csv(
        tmp_path,
        ["case_id,patient_id,path,label,mask_path", "c001,p1,img/a.dcm,1,masks/none.nii.gz"],
        "m2.csv",
    )
    assert _error(path) == (
        f"{path}: row 2 (case_id 'c001'), column 'mask_path': expected an existing file, "
        "found no file at 'masks/none.nii.gz'"
    )
