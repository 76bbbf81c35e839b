"""`radval manifest build --dicomweb` against a real Orthanc (DICOMweb plugin) on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
from dicom_support import OrthancServer, orthanc_missing, orthanc_server

from validation.data.dicomweb import check_url, retrieve, session_from_env
from validation.data.synthetic import generate_synthetic_dataset
from validation.errors import DicomWebError, InputError
from validation.io import sha256_file

pytestmark = pytest.mark.skipif(orthanc_missing() is not None, reason=str(orthanc_missing()))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthetic_dataset(
        tmp_path_factory.mktemp("synth") / "test", n_cases=8, image_size=48, seed=3
    ).root


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory, synthetic: Path) -> Iterator[OrthancServer]:
    with orthanc_server(tmp_path_factory.mktemp("orthanc")) as server:
        for path in sorted(synthetic.rglob("*.dcm")):
            server.upload(path)
        yield server


def _radval(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("RADVAL_")}
    return subprocess.run(
        [sys.executable, "-m", "validation", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**full, **env},
    )


def _auth(server: OrthancServer) -> dict[str, str]:
    return {"RADVAL_DICOMWEB_USER": server.user, "RADVAL_DICOMWEB_PASSWORD": server.password}


def test_manifest_build_pulls_the_demo_set(
    orthanc: OrthancServer, synthetic: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "pacs"
    args = ("manifest", "build", cache, "--out", cache / "manifest.csv", "--salt", "s")
    result = _radval(*args, "--dicomweb", orthanc.dicomweb, env=_auth(orthanc))
    assert result.returncode == 0, result.stderr
    assert f"retrieved 8 new instance(s) of 8 in 8 study(ies) from {orthanc.dicomweb}" in (
        result.stdout
    )
    pulled = pd.read_csv(cache / "manifest.csv", dtype=str)
    local = _radval(
        "manifest",
        "build",
        synthetic,
        "--out",
        synthetic / "local.csv",
        "--salt",
        "s",
        "--force",
        env={},
    )
    assert local.returncode == 0, local.stderr
    here = pd.read_csv(synthetic / "local.csv", dtype=str)
    # byte-identical instances: the same sha256 per SOP instance, the same pseudonyms
    key = ["series_uid", "sha256", "patient_id", "study_uid", "modality", "site"]
    assert sorted(map(tuple, pulled[key].to_numpy())) == sorted(map(tuple, here[key].to_numpy()))
    assert set(pulled["source_url"]) == {orthanc.dicomweb}
    assert pulled["retrieved_at"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$").all()
    provenance = json.loads((cache / "dicomweb.json").read_text())
    assert provenance["source_url"] == orthanc.dicomweb and len(provenance["instances"]) == 8
    for rel, digest in provenance["instances"].items():
        assert sha256_file(cache / rel) == digest
    # the password is nowhere: output, manifest, provenance
    written = (cache / "manifest.csv").read_text() + (cache / "dicomweb.json").read_text()
    assert orthanc.password not in result.stdout + result.stderr + written
    # resumable: a second run fetches nothing new
    again = _radval(*args, "--force", "--dicomweb", orthanc.dicomweb, env=_auth(orthanc))
    assert again.returncode == 0, again.stderr
    assert "retrieved 0 new instance(s) of 8 in 8 study(ies)" in again.stdout


def test_study_filter_and_resume_after_a_lost_instance(
    orthanc: OrthancServer, tmp_path: Path
) -> None:
    session = session_from_env(_auth(orthanc))
    first = retrieve(orthanc.dicomweb, tmp_path / "c", session=session)
    assert (first.n_studies, first.n_instances, first.n_fetched) == (8, 8, 8)
    lost = sorted(first.instances)[3]
    (tmp_path / "c" / lost).unlink()
    second = retrieve(orthanc.dicomweb, tmp_path / "c", session=session)
    assert second.n_fetched == 1 and second.instances == first.instances
    study = lost.split("/")[0]
    one = retrieve(
        orthanc.dicomweb,
        tmp_path / "one",
        session=session,
        study_filter={"StudyInstanceUID": study},
    )
    assert one.n_studies == 1 and list(one.instances) == [lost]


def test_wrong_credentials_are_an_exit_2_error(orthanc: OrthancServer, tmp_path: Path) -> None:
    cache = tmp_path / "pacs"
    bad = {"RADVAL_DICOMWEB_USER": "radval", "RADVAL_DICOMWEB_PASSWORD": "not-the-password"}
    args = ("manifest", "build", cache, "--out", cache / "m.csv", "--salt", "s")
    result = _radval(*args, "--dicomweb", orthanc.dicomweb, env=bad)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"radval: error: {orthanc.dicomweb}: QIDO-RS study search failed with HTTP 401 "
        "(check the credentials in the environment)"
    )
    assert "not-the-password" not in result.stdout + result.stderr
    with pytest.raises(DicomWebError, match="HTTP 401"):
        retrieve(orthanc.dicomweb, tmp_path / "x", session=requests.Session())


def test_credentials_only_from_the_environment() -> None:
    with pytest.raises(InputError, match="the URL holds a user name or password"):
        check_url("http://u:p@127.0.0.1:8042/dicom-web")
    with pytest.raises(InputError, match="expected an http"):
        check_url("ftp://pacs/dicom-web")
    token = session_from_env({"RADVAL_DICOMWEB_TOKEN": "t0k"})
    assert token.headers["Authorization"] == "Bearer t0k" and token.auth is None
    assert session_from_env({"RADVAL_DICOMWEB_USER": "a", "RADVAL_DICOMWEB_PASSWORD": "b"}).auth
    with pytest.raises(InputError, match="set both RADVAL_DICOMWEB_USER and"):
        session_from_env({"RADVAL_DICOMWEB_USER": "a"})
    with pytest.raises(InputError, match="set one kind of DICOMweb credential"):
        session_from_env({"RADVAL_DICOMWEB_TOKEN": "t", "RADVAL_DICOMWEB_USER": "a"})
