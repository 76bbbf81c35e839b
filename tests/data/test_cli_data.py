"""End-to-end tests of `radval synth` and `radval manifest build|check` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def _radval(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "RADVAL_PSEUDONYM_SALT"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "validation", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env=full_env,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "test"
    result = _radval("synth", "--out", out, "--n-cases", "10", "--image-size", "48", "--seed", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"wrote 10 images to {out}; manifest {out / 'manifest.csv'}, lesions {out / 'lesions.csv'}"
    )
    return out


def test_help_everywhere() -> None:
    for args in (
        ("manifest", "--help"),
        ("manifest", "build", "--help"),
        ("manifest", "check", "--help"),
        ("synth", "--help"),
    ):
        result = _radval(*args)
        assert result.returncode == 0, args
        assert "Usage: radval" in result.stdout


def test_synth_refuses_non_empty_folder(synth: Path) -> None:
    result = _radval("synth", "--out", synth, "--n-cases", "3")
    assert result.returncode == 2
    assert (
        result.stderr
        == f"radval: error: {synth}: folder is not empty (use --force to write into it)\n"
    )


def test_synth_force_rewrites_identically(synth: Path) -> None:
    before = (synth / "manifest.csv").read_bytes()
    result = _radval(
        "synth", "--out", synth, "--n-cases", "10", "--image-size", "48", "--seed", "2", "--force"
    )
    assert result.returncode == 0, result.stderr
    assert (synth / "manifest.csv").read_bytes() == before


def test_check_valid_manifest(synth: Path) -> None:
    result = _radval("manifest", "check", synth / "manifest.csv", "--verify-hashes")
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(synth / "manifest.csv")
    assert result.stdout == (
        f"{synth / 'manifest.csv'}: valid ({len(frame)} case(s), "
        f"{frame['patient_id'].nunique()} patient(s), label: {frame['label'].sum()} positive)\n"
    )


def test_check_invalid_manifest_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    (tmp_path / "a.dcm").write_text("x")
    path.write_text("case_id,patient_id,path,label\nc1,p1,a.dcm,2\nc2,p1,../b.dcm,1\n")
    result = _radval("manifest", "check", path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"radval: error: {path}: row 2 (case_id 'c1'), column 'label': expected 0 or 1, found '2'",
        f"radval: error: {path}: row 3 (case_id 'c2'), column 'path': expected a path inside "
        "the manifest's folder, found '../b.dcm' (it uses '..')",
    ]


def test_check_missing_manifest(tmp_path: Path) -> None:
    result = _radval("manifest", "check", tmp_path / "none.csv")
    assert result.returncode == 2
    assert result.stderr == f"radval: error: {tmp_path / 'none.csv'}: file not found\n"


def test_check_named_label(tmp_path: Path) -> None:
    (tmp_path / "a.dcm").write_text("x")
    path = tmp_path / "m.csv"
    path.write_text("case_id,patient_id,path,nodule\nc1,p1,a.dcm,1\n")
    assert _radval("manifest", "check", path, "--label", "nodule").returncode == 0
    result = _radval("manifest", "check", path, "--label", "mass")
    assert result.returncode == 2
    assert result.stderr == (
        f"radval: error: {path}: missing required column 'mass' (found columns: case_id, "
        "patient_id, path, nodule)\n"
    )


def test_leakage_exit_codes(synth: Path, tmp_path: Path) -> None:
    train = tmp_path / "train"
    made = _radval(
        "synth",
        "--out",
        train,
        "--n-cases",
        "6",
        "--image-size",
        "48",
        "--seed",
        "7",
        "--id-prefix",
        "R",
    )
    assert made.returncode == 0, made.stderr
    clean = _radval(
        "manifest", "check", synth / "manifest.csv", "--against", train / "manifest.csv"
    )
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.splitlines()[-1] == (
        f"no leakage against {train / 'manifest.csv'}: no shared patients, studies or images"
    )
    leaky = _radval(
        "manifest", "check", synth / "manifest.csv", "--against", synth / "manifest.csv"
    )
    assert leaky.returncode == 1
    lines = leaky.stdout.splitlines()
    assert lines[1] == f"LEAKAGE against {synth / 'manifest.csv'}:"
    frame = pd.read_csv(synth / "manifest.csv")
    assert lines[2].startswith(f"  {frame['patient_id'].nunique()} shared patients: P-")
    assert lines[3].startswith("  10 shared studies: ")
    assert lines[4].startswith("  10 identical images (test = train): T00001 = T00001, ")


def test_build_needs_a_salt(synth: Path, tmp_path: Path) -> None:
    result = _radval("manifest", "build", synth / "images", "--out", synth / "built.csv")
    assert result.returncode == 2
    assert result.stderr == (
        "radval: error: no pseudonymisation salt: pass --salt SALT or set "
        "RADVAL_PSEUDONYM_SALT (a secret kept by the site; patient IDs are replaced by "
        "salted hashes)\n"
    )
    assert not (synth / "built.csv").exists()


def test_build_with_env_salt_and_labels(synth: Path) -> None:
    truth = pd.read_csv(synth / "manifest.csv", dtype={"case_id": str})
    labels = synth / "labels.csv"
    truth[["case_id", "label"]].to_csv(labels, index=False)
    out = synth / "built.csv"
    result = _radval(
        "manifest",
        "build",
        synth / "images",
        "--labels",
        labels,
        "--out",
        out,
        env={"RADVAL_PSEUDONYM_SALT": "radval-synthetic-v1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"wrote {out}: 10 image(s), {truth['patient_id'].nunique()} patient(s)\n"
    )
    built = pd.read_csv(out, dtype={"case_id": str})
    assert list(built["path"]) == list(truth["path"])  # relative to the manifest's folder
    assert list(built["label"]) == list(truth["label"])
    assert list(built["patient_id"]) == list(truth["patient_id"])
    check = _radval("manifest", "check", out, "--verify-hashes")
    assert check.returncode == 0, check.stderr
    # An existing output is never replaced silently.
    again = _radval("manifest", "build", synth / "images", "--out", out, "--salt", "x")
    assert again.returncode == 2
    assert again.stderr == f"radval: error: {out}: already exists (use --force to replace it)\n"
    forced = _radval("manifest", "build", synth / "images", "--out", out, "--salt", "x", "--force")
    assert forced.returncode == 0, forced.stderr
    out.unlink()
    labels.unlink()


def test_build_reports_unreadable_and_strict(synth: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dicom"
    folder.mkdir()
    for name in ("T00001.dcm", "T00002.dcm"):
        (folder / name).write_bytes((synth / "images" / name).read_bytes())
    (folder / "junk.dcm").write_text("not dicom")
    out = tmp_path / "m.csv"
    result = _radval("manifest", "build", folder, "--out", out, "--salt", "s")
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "radval: warning: junk.dcm: not a DICOM file (no 'DICM' marker at byte 128 and no "
        "DICOM data element at the start of the file)\n"
    )
    assert result.stdout.endswith(", 1 file(s) skipped\n")
    assert list(pd.read_csv(out)["path"]) == ["dicom/T00001.dcm", "dicom/T00002.dcm"]
    strict = _radval(
        "manifest", "build", folder, "--out", tmp_path / "s.csv", "--salt", "s", "--strict"
    )
    assert strict.returncode == 2
    assert strict.stderr.splitlines()[-1] == (
        "radval: error: 1 file(s) could not be read (see above); nothing written because of "
        "--strict"
    )
    assert not (tmp_path / "s.csv").exists()


def test_build_refuses_manifest_outside_the_folder(synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "m.csv"
    result = _radval("manifest", "build", synth / "images", "--out", out, "--salt", "s")
    assert result.returncode == 2
    assert result.stderr == (
        f"radval: error: {out}: the manifest must be written in {synth / 'images'} or a "
        "folder above it (paths in a manifest are relative to its folder and may not leave it)\n"
    )
