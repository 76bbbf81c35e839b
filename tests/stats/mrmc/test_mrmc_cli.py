"""`radval mrmc` end to end in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "reader_studies"


def radval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validation", "mrmc", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )


def test_table_output_for_van_dyke():
    r = radval(DATA / "van_dyke.csv")
    assert r.returncode == 0, r.stderr
    assert "F = 4.456, df = (1, 15.26), p = 0.0517" in r.stdout
    assert "X2 = 5.476" in r.stdout
    assert "0.8970" in r.stdout and "0.9408" in r.stdout
    assert "var_error" in r.stdout


def test_json_output_matches_reference():
    r = radval(DATA / "van_dyke.csv", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    t = d["tests"]["RRRC"]
    assert t["statistic"] == pytest.approx(4.456318693157262, abs=1e-9)
    assert t["df_den"] == pytest.approx(15.259674589141751, abs=1e-9)
    assert t["comparisons"][0]["ci_low"] == pytest.approx(-0.08795949856655466, abs=1e-9)
    assert d["tests"]["FRRC"]["df_den"] == "inf"


def test_excel_format_from_the_command_line():
    """(The other formats are checked in-process in test_mrmc_readings.py.)"""
    r = radval(DATA / "formats" / "van_dyke_jafroc.xlsx", "--json", "--covariance", "delong")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tests"]["RRRC"]["statistic"] == pytest.approx(
        4.484854321820782, abs=1e-9
    )


def test_ai_reader_json():
    r = radval(DATA / "hupse_karssemeijer_cad_roc.csv", "--ai-reader", "1", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["RRRC"]["statistic"] == pytest.approx(0.9928688833840893, abs=1e-9)
    assert d["RRFC"]["df"] == 8


def test_dbm_and_froc_from_the_command_line():
    r = radval(DATA / "zanca_fed_froc.csv", "--fom", "wafroc", "--method", "dbm", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["method"] == "dbm" and d["fom_name"] == "wafroc"
    assert set(d["variance_components"]) >= {"var_tc", "var_rc"}


def test_bad_file_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("reader,modality,case,truth,score\na,x,1,0,1\na,x,2,1,oops\n")
    r = radval(bad)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "row 2, field 'score'" in lines[0] and "Traceback" not in r.stderr


def test_unsupported_combination_exits_2():
    r = radval(DATA / "van_dyke_cases_nested_in_readers.csv", "--method", "dbm")
    assert r.returncode == 2
    assert "DBM needs fully crossed data" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
