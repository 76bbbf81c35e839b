"""Readings: the four Van Dyke formats load to the same data; validation messages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from validation.data.readings import (
    COLUMNS,
    detect_design,
    load_froc_readings,
    load_readings,
    validate_readings,
)
from validation.errors import ReadingsError
from validation.stats.mrmc import mrmc_analysis

DATA = Path(__file__).resolve().parents[2] / "data" / "reader_studies"
FORMATS = ["van_dyke.lrc", "van_dyke.imrmc", "van_dyke_ordbm.csv", "van_dyke_jafroc.xlsx"]


def _norm(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[list(COLUMNS)].sort_values(["reader", "modality", "case"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def tidy() -> pd.DataFrame:
    return load_readings(DATA / "van_dyke.csv")


def test_tidy_csv_types(tidy):
    assert list(tidy.columns[:5]) == list(COLUMNS)
    assert len(tidy) == 1140
    assert tidy["score"].dtype == float
    assert tidy["truth"].dtype.kind == "i"
    assert set(tidy["reader"]) == {"0", "1", "2", "3", "4"}
    assert tidy.attrs["source"].endswith("van_dyke.csv")


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_loads_to_the_same_readings(name, tidy):
    other = load_readings(DATA / "formats" / name)
    pd.testing.assert_frame_equal(_norm(other), _norm(tidy), check_dtype=False)


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_gives_the_same_analysis(name, tidy):
    a = mrmc_analysis(load_readings(DATA / "formats" / name)).tests["RRRC"]
    b = mrmc_analysis(tidy).tests["RRRC"]
    assert a.statistic == pytest.approx(b.statistic, abs=1e-12)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("van_dyke_ordbm.csv", "ordbm"), ("van_dyke.lrc", "lrc"), ("van_dyke.imrmc", "imrmc")],
)
def test_explicit_format_option(name, fmt, tidy):
    other = load_readings(DATA / "formats" / name, format=fmt)
    assert len(other) == len(tidy)


def write(tmp_path: Path, text: str, name: str = "r.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = "reader,modality,case,truth,score\n"


def test_case_with_two_truths(tmp_path):
    p = write(tmp_path, GOOD + "a,x,1,0,1\na,x,2,1,3\nb,x,1,1,2\nb,x,2,1,4\n")
    with pytest.raises(ReadingsError) as err:
        load_readings(p)
    msg = str(err.value)
    assert str(p) in msg and "row 3" in msg and "'truth'" in msg
    assert "case '1' has two truths" in msg


def test_non_numeric_score(tmp_path):
    p = write(tmp_path, GOOD + "a,x,1,0,1\na,x,2,1,high\n")
    with pytest.raises(
        ReadingsError,
        match=r"row 2, field 'score': expected a finite number, "
        r"found 'high'",
    ):
        load_readings(p)


def test_duplicate_reading(tmp_path):
    p = write(tmp_path, GOOD + "a,x,1,0,1\na,x,2,1,3\na,x,1,0,2\n")
    with pytest.raises(
        ReadingsError,
        match=r"row 3, field 'case': duplicate reading of case "
        r"'1' by reader 'a' in modality 'x' \(first at row 1\)",
    ):
        load_readings(p)


def test_bad_truth_value(tmp_path):
    p = write(tmp_path, GOOD + "a,x,1,0,1\na,x,2,2,3\n")
    with pytest.raises(ReadingsError, match=r"row 2, field 'truth': expected 0 or 1, found '2'"):
        load_readings(p)


def test_missing_column(tmp_path):
    p = write(tmp_path, "reader,modality,case,score\na,x,1,1\n")
    with pytest.raises(ReadingsError, match=r"missing column\(s\) \['truth'\]"):
        load_readings(p)


def test_missing_file(tmp_path):
    with pytest.raises(ReadingsError, match="readings file not found"):
        load_readings(tmp_path / "nope.csv")


def test_reader_missing_a_modality_in_fully_crossed_design(tidy):
    frame = tidy[~((tidy["reader"] == "2") & (tidy["modality"] == "1"))]
    frame.attrs["source"] = "vd.csv"
    with pytest.raises(
        ReadingsError,
        match=r"vd.csv, field 'modality': reader '2' is missing "
        r"modality '1' in a design declared fully_crossed",
    ):
        validate_readings(frame, design="fully_crossed")


def test_reader_missing_a_case_in_fully_crossed_design(tidy):
    frame = tidy.drop(tidy.index[5])
    with pytest.raises(ReadingsError, match="has no reading of case '6'"):
        validate_readings(frame, design="fully_crossed")


def test_declared_design_is_checked():
    nested = load_readings(DATA / "van_dyke_cases_nested_in_readers.csv")
    validate_readings(nested, design="split_plot")
    with pytest.raises(ReadingsError, match="needs every reader to read every case"):
        validate_readings(nested, design="fully_crossed")
    with pytest.raises(ReadingsError, match="cases nested in modalities need each case"):
        validate_readings(load_readings(DATA / "van_dyke.csv"), design="cases_in_modalities")
    with pytest.raises(ReadingsError, match="split-plot design"):
        validate_readings(load_readings(DATA / "van_dyke.csv"), design="split_plot")


@pytest.mark.parametrize(
    ("name", "design"),
    [
        ("van_dyke.csv", "fully_crossed"),
        ("van_dyke_cases_nested_in_readers.csv", "split_plot"),
        ("van_dyke_cases_nested_in_modalities.csv", "cases_in_modalities"),
        ("kundel_icu_cxr.csv", "partially_paired"),
        ("imrmc_sim_readers_split_by_modality.csv", "readers_in_modalities"),
    ],
)
def test_design_detection(name, design):
    assert detect_design(load_readings(DATA / name)) == design


def test_unsupported_design_message(tidy):
    frame = tidy[~((tidy["reader"] == "2") & (tidy["modality"] == "1"))]
    with pytest.raises(ReadingsError, match="reader '2' has no readings in modality '1'"):
        detect_design(frame)


def test_lrc_small_direction_flag_negates(tmp_path):
    text = 'title\nR1\n "A" "B"\n L S\n1 5\n2 4\n*\n3 1\n4 2\n*\n#\n'
    frame = load_readings(write(tmp_path, text, "s.lrc"))
    b = frame[frame["modality"] == "B"].sort_values("case")
    assert b["score"].tolist() == [-5.0, -4.0, -1.0, -2.0]
    assert b["truth"].tolist() == [0, 0, 1, 1]
    assert b["case"].tolist() == ["1", "2", "3", "4"]


def test_lrc_bad_rating(tmp_path):
    text = 'title\nR1\n "A"\n L\n1\nx\n*\n3\n*\n#\n'
    with pytest.raises(
        ReadingsError, match=r"line 6, field .A.: expected a numeric rating|line 6: expected"
    ):
        load_readings(write(tmp_path, text, "bad.lrc"))


def test_imrmc_case_without_truth(tmp_path):
    text = "hdr\nBEGIN DATA:\n-1,1,truth,0\nr1,1,A,0.5\nr1,2,A,0.7\n"
    with pytest.raises(ReadingsError, match=r"line 5, field 'case': case '2' has no truth row"):
        load_readings(write(tmp_path, text, "x.imrmc"))


def test_unknown_extension(tmp_path):
    with pytest.raises(ReadingsError, match="cannot tell the readings format"):
        load_readings(write(tmp_path, "x", "r.txt"))


def test_froc_loader_pairs_marks_and_truth():
    marks, truth = load_froc_readings(DATA / "zanca_fed_froc.csv")
    assert list(marks.columns) == ["reader", "modality", "case", "truth", "score", "lesion"]
    assert list(truth.columns) == ["case", "truth", "lesion", "weight"]
    res = mrmc_analysis(marks, fom="afroc", truth=truth)
    assert res.fom_name == "afroc" and len(res.fom) == 20


def test_jafroc_froc_workbook_is_refused_as_roc(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Truth"
    ws.append(["CaseID", "LesionID", "Weight"])
    ws.append([1, 0, 0])
    ws.append([2, 1, 0.5])
    ws.append([2, 2, 0.5])
    nl = wb.create_sheet("NL")
    nl.append(["ReaderID", "ModalityID", "CaseID", "NL_Rating"])
    nl.append(["0", "0", 1, 2])
    ll = wb.create_sheet("LL")
    ll.append(["ReaderID", "ModalityID", "CaseID", "LesionID", "LL_Rating"])
    ll.append(["0", "0", 2, 1, 4])
    ll.append(["0", "0", 2, 2, 3])
    p = tmp_path / "froc.xlsx"
    wb.save(p)
    with pytest.raises(ReadingsError, match="holds FROC data"):
        load_readings(p)
    marks, truth = load_froc_readings(p)
    assert len(marks) == 3 and sorted(marks["lesion"]) == ["0", "1", "2"]
