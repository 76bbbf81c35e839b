"""`radval results dicom`: the verdict and estimates as a DICOM SR, stored in a real Orthanc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
import requests
from dicom_support import dciodvfy_errors, orthanc_missing, orthanc_server
from dicomweb_client.api import DICOMwebClient
from study_support import build_layout

from validation.outputs.dicom_sr import results_sr
from validation.protocol.lock import lock_protocol
from validation.results import read_results_document
from validation.study import run_study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_layout(tmp_path_factory.mktemp("res") / "demo", n=60)
    proto = root / "protocols" / "triage_standalone.yaml"
    lock_protocol(proto)
    run_study(proto, out_dir=root / "study", render=False)
    return root / "study"


def _radval(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("RADVAL_")}
    return subprocess.run(
        [sys.executable, "-m", "validation", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**full, **env},
    )


def _items(ds: pydicom.Dataset) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in ds.ContentSequence:
        name = item.ConceptNameCodeSequence[0].CodeMeaning
        if item.ValueType == "TEXT":
            out[name] = item.TextValue
        elif item.ValueType == "NUM":
            out[name] = float(item.MeasuredValueSequence[0].NumericValue)
        else:
            out.setdefault("endpoints", []).append(_items(item))  # type: ignore[union-attr]
    return out


def test_sr_holds_the_verdict_and_estimates(study: Path, tmp_path: Path) -> None:
    doc = read_results_document(study)
    path = tmp_path / "r.dcm"
    results_sr(doc).save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []
    got = _items(pydicom.dcmread(path))
    assert got["Study verdict"] == doc["verdict"]["decision"]
    assert got["Validation study identifier"] == doc["study"]["id"]
    reported = {e["Endpoint identifier"]: e for e in got["endpoints"]}  # type: ignore[union-attr]
    expected = [e for e in doc["endpoints"] if e["role"] in ("primary", "secondary")]
    assert sorted(reported) == sorted(e["id"] for e in expected) and expected
    for ep in expected:
        r = reported[ep["id"]]
        assert r["Decision"] == ep["decision"] and r["Metric"] == ep["metric"]
        for key, name in (("estimate", "Estimate"), ("ci_low", "Lower confidence limit")):
            if ep[key] is not None:
                # DS holds 16 characters: agreement to 1e-12 relative
                assert r[name] == pytest.approx(ep[key], rel=1e-12, abs=1e-15)
    raw = path.read_bytes()
    manifest = (study.parent / "data" / "test" / "manifest.csv").read_text()
    patient_ids = {line.split(",")[1] for line in manifest.splitlines()[1:]}
    assert not any(p.encode() in raw for p in patient_ids)


@pytest.mark.skipif(orthanc_missing() is not None, reason=str(orthanc_missing()))
def test_results_stored_back_with_stow(study: Path, tmp_path: Path) -> None:
    with orthanc_server(tmp_path / "orthanc") as server:
        env = {"RADVAL_DICOMWEB_USER": server.user, "RADVAL_DICOMWEB_PASSWORD": server.password}
        out = tmp_path / "results.dcm"
        result = _radval(
            "results", "dicom", study, "--out", out, "--stow", server.dicomweb, env=env
        )
        assert result.returncode == 0, result.stderr
        sop = str(pydicom.dcmread(out).SOPInstanceUID)
        assert result.stdout.splitlines()[-1] == f"stored {sop} at {server.dicomweb} (STOW-RS)"
        session = requests.Session()
        session.auth = (server.user, server.password)
        client = DICOMwebClient(url=server.dicomweb, session=session)
        found = client.search_for_instances(search_filters={"SOPInstanceUID": sop})
        assert [f["00080018"]["Value"][0] for f in found] == [sop]
        assert server.password not in result.stdout + result.stderr
        again = _radval("results", "dicom", study, "--out", out, env={})
        assert again.returncode == 2
        assert again.stderr.strip() == (
            f"radval: error: {out}: already exists (use --force to replace it)"
        )
