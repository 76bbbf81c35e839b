"""The truthing stage (test_set.truthing) and the measurement stage (measurement:) end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from study_support import PROTOCOLS, lean

from validation.errors import InputError
from validation.protocol.lock import lock_protocol
from validation.protocol.schema import MeasurementEndpoint, Truthing
from validation.results import load_results
from validation.stats import adjudicate, bland_altman, fleiss_kappa, gwet_ac1, icc, lins_ccc
from validation.study import check_study_protocol, run_study

TRUTHING = """  truthing:
    file: ../data/test/truthing.csv
    columns: {case_id: accession, truther: radiologist, label: finding}
    rule: consensus_with_adjudicator
    adjudicator: ADJ
    positive: abnormal
    use: USE
    statistics: [percent_agreement, cohen_kappa, fleiss_kappa, gwet_ac1, krippendorff_alpha]
"""

MEASUREMENT = """measurement:
  measurements: ../scores/volumes.csv
  columns: {value: volume_ml}
  reference_column: ref_volume_ml
  quantity: nodule volume
  unit: mL
  subgroups: [site]
  endpoints:
    - id: volume_loa_high
      role: primary
      metric: loa_high
      accept: {bound: ci_high, op: "<=", value: 15}
    - id: volume_bias
      role: secondary
      metric: bias
      accept: {bound: ci_high, op: "<=", value: 5}
    - id: volume_ccc
      role: secondary
      metric: ccc
      accept: {bound: ci_low, op: ">=", value: 0.9}
    - id: volume_icc
      role: exploratory
      metric: icc
"""


def _write_truthing(layout: Path, *, flip: int = 0) -> pd.DataFrame:
    """Two truthers who disagree on ~15% of cases; the adjudicator reads those and is right.

    ``flip`` adjudicator reads are wrong (so ``use: check`` finds discordant cases).
    """
    manifest = pd.read_csv(layout / "data" / "test" / "manifest.csv", dtype={"case_id": str})
    rng = np.random.default_rng(3)
    rows = []
    name = {1: "abnormal", 0: "normal"}
    n_flipped = 0
    for cid, lab in zip(manifest["case_id"], manifest["label"], strict=True):
        reads = [lab, lab]
        if rng.random() < 0.15:  # one of the two misreads; never both
            reads[int(rng.integers(2))] = 1 - lab
        for who, r in zip(("R1", "R2"), reads, strict=True):
            rows.append({"accession": cid, "radiologist": who, "finding": name[int(r)]})
        if reads[0] != reads[1]:
            adj = lab if n_flipped >= flip else 1 - lab
            n_flipped += adj != lab
            rows.append({"accession": cid, "radiologist": "ADJ", "finding": name[int(adj)]})
    frame = pd.DataFrame(rows)
    frame.to_csv(layout / "data" / "test" / "truthing.csv", index=False)
    return frame


def _protocol(layout: Path, *, use: str = "check", measurement: bool = False) -> Path:
    text = lean((PROTOCOLS / "triage_standalone.yaml").read_text(encoding="utf-8"))
    text = text.replace(
        "  missing_outputs: worst_case\n",
        "  missing_outputs: worst_case\n" + TRUTHING.replace("USE", use),
    )
    if measurement:
        text = text.replace("multiplicity:\n", MEASUREMENT + "multiplicity:\n", 1)
        text = text.replace(
            "order: [auc_primary, sensitivity_primary, specificity_primary]",
            "order: [auc_primary, sensitivity_primary, specificity_primary, volume_loa_high]",
        )
    text = text.replace("\nseed:", "\nn_resamples: 200\nseed:", 1)
    path = layout / "protocols" / "truthing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_truthing_check_records_agreement_and_adjudication(layout: Path) -> None:
    reads = _write_truthing(layout, flip=2)
    outcome = run_study(
        _protocol(layout), out_dir=layout / "studies" / "t", allow_unlocked=True, render=False
    )
    results = load_results(outcome.results_path)
    doc = json.loads(outcome.results_path.read_text(encoding="utf-8"))
    block = doc["truthing"]
    assert results.truthing is not None and results.truthing.use == "check"
    assert block["truthers"] == ["R1", "R2"]
    assert block["n_adjudicator_reads"] == int((reads["radiologist"] == "ADJ").sum())
    # every statistic equals the stats function called directly on the primary reads
    primary = reads[reads["radiologist"] != "ADJ"].rename(
        columns={"accession": "case", "radiologist": "rater", "finding": "label"}
    )
    stats = {a["statistic"]: a for a in block["agreement"]}
    assert stats["fleiss_kappa"]["estimate"] == pytest.approx(
        fleiss_kappa(primary).estimate, abs=1e-12
    )
    assert stats["gwet_ac1"]["ci_high"] == pytest.approx(gwet_ac1(primary).ci_high, abs=1e-12)
    assert stats["krippendorff_alpha"]["method"].startswith("bootstrap")
    assert all(a["ci_low"] < a["estimate"] < a["ci_high"] for a in block["agreement"])
    adj = adjudicate(
        reads,
        rule="consensus_with_adjudicator",
        case="accession",
        rater="radiologist",
        label="finding",
        adjudicator="ADJ",
        positive="abnormal",
    )
    assert {p["path"]: p["n"] for p in block["paths"]} == adj.counts
    assert block["paths"][0] == {"path": "unanimous", "n": adj.counts["unanimous"]}
    assert block["check"]["n_discordant"] == 2
    assert len(block["check"]["discordant"]) == 2
    assert any("differs from the manifest's 'label' in 2 case(s)" in w for w in doc["warnings"])
    assert doc["inputs"]["truthing"]["declared"] == "../data/test/truthing.csv"


def test_truthing_derive_replaces_the_label_and_excludes_unresolved(layout: Path) -> None:
    reads = _write_truthing(layout, flip=3)
    # one case loses its adjudicator read: unresolved; one case has no reads at all
    adj_rows = reads.index[reads["radiologist"] == "ADJ"]
    gone = reads.loc[adj_rows[0], "accession"]
    no_reads = "C0005"
    reads = reads.drop(index=adj_rows[0])
    reads = reads[reads["accession"] != no_reads]
    reads.to_csv(layout / "data" / "test" / "truthing.csv", index=False)
    manifest_path = layout / "data" / "test" / "manifest.csv"
    manifest = pd.read_csv(manifest_path).drop(columns=["label"])
    manifest.to_csv(manifest_path, index=False)  # derive: the manifest needs no label
    outcome = run_study(
        _protocol(layout, use="derive"),
        out_dir=layout / "studies" / "t",
        allow_unlocked=True,
        render=False,
    )
    doc = json.loads(outcome.results_path.read_text(encoding="utf-8"))
    flow = doc["data_summary"]["flow"]
    reasons = {line["reason"]: line["n"] for line in flow["excluded"]}
    assert reasons["no truthing read"] == 1
    assert reasons["reference standard unresolved by the adjudication rule"] == 1
    assert flow["analysed"] == flow["assessed"] - 2
    assert doc["truthing"]["reference"]["n_unresolved"] == 1
    assert doc["truthing"]["check"] is None
    assert gone != no_reads
    n_pos = doc["truthing"]["reference"]["n_positive"]
    assert doc["data_summary"]["n_positive"] == n_pos


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda f: f.assign(finding=f["finding"].where(f.index != 3, "")),
            "truthing.csv: row 4, field 'label': expected a value, found an empty cell",
        ),
        (
            lambda f: f.rename(columns={"radiologist": "reader"}),
            "column 'radiologist' (for truther) named in test_set.truthing.columns is not in "
            "the file",
        ),
        (
            lambda f: pd.concat([f, f.iloc[[0]]]),
            "truthing.csv: row {n}: truther 'R1' reads case_id 'C0000' twice; expected one read "
            "per truther and case",
        ),
        (
            lambda f: f.assign(accession=f["accession"].where(f.index != 0, "X999")),
            "truthing.csv: 1 case_id(s) are not in the test-set manifest, e.g. 'X999'",
        ),
        (
            lambda f: f.assign(radiologist=f["radiologist"].where(f.index != 1, "R3")),
            "truthing.csv: cohen_kappa needs exactly two truthers (adjudicator excluded), "
            "found 3: ['R1', 'R2', 'R3']; use fleiss_kappa or gwet_ac1 for more",
        ),
    ],
)
def test_truthing_file_problems_are_input_errors(layout: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    reads = _write_truthing(layout)
    bad = edit(reads)
    bad.to_csv(layout / "data" / "test" / "truthing.csv", index=False)
    with pytest.raises(InputError) as err:
        run_study(
            _protocol(layout), out_dir=layout / "studies" / "t", allow_unlocked=True, render=False
        )
    assert message.format(n=len(bad)) in str(err.value)


def _write_volumes(layout: Path, *, bias: float = 1.0, sd: float = 3.0) -> pd.DataFrame:
    manifest_path = layout / "data" / "test" / "manifest.csv"
    manifest = pd.read_csv(manifest_path, dtype={"case_id": str})
    rng = np.random.default_rng(5)
    ref = np.where(manifest["label"] == 1, rng.uniform(5, 80, len(manifest)), np.nan)
    manifest["ref_volume_ml"] = ref
    manifest.to_csv(manifest_path, index=False)
    measured = ref + bias + rng.normal(0, sd, len(ref))
    has = ~np.isnan(ref)
    frame = pd.DataFrame({"case_id": manifest["case_id"][has], "volume_ml": measured[has]})
    frame.to_csv(layout / "scores" / "volumes.csv", index=False)
    return pd.DataFrame(
        {
            "case_id": manifest["case_id"][has],
            "patient": manifest["patient_id"][has],
            "site": manifest["site"][has],
            "measured": measured[has],
            "reference": ref[has],
        }
    )


def test_measurement_endpoints_are_decided_on_their_bounds(layout: Path) -> None:
    _write_truthing(layout)
    pairs = _write_volumes(layout)
    outcome = run_study(
        _protocol(layout, measurement=True),
        out_dir=layout / "studies" / "m",
        allow_unlocked=True,
        render=False,
    )
    doc = json.loads(outcome.results_path.read_text(encoding="utf-8"))
    eps = {e["id"]: e for e in doc["endpoints"]}
    repeated = pairs["patient"].duplicated().any()
    ba = bland_altman(
        pairs["measured"],
        pairs["reference"],
        repeated=pairs["patient"] if repeated else None,
    )
    assert eps["volume_loa_high"]["estimate"] == pytest.approx(ba.loa_high.estimate, abs=1e-12)
    assert eps["volume_loa_high"]["ci_high"] == pytest.approx(ba.loa_high.ci_high, abs=1e-12)
    assert eps["volume_loa_high"]["decision"] == "pass"  # ~1 + 1.96 * 3 = 6.9 mL < 15
    assert eps["volume_bias"]["ci_low"] == pytest.approx(ba.bias.ci_low, abs=1e-12)
    ccc = lins_ccc(pairs["measured"], pairs["reference"])
    assert eps["volume_ccc"]["estimate"] == pytest.approx(ccc.estimate, abs=1e-12)
    long = pd.concat(
        [
            pairs.assign(rater="d", value=pairs["measured"]),
            pairs.assign(rater="r", value=pairs["reference"]),
        ]
    ).rename(columns={"case_id": "case"})
    assert eps["volume_icc"]["estimate"] == pytest.approx(icc(long).estimate, abs=1e-12)
    assert eps["volume_icc"]["decision"] == "informational"
    assert eps["volume_loa_high"]["criterion"]["text"] == (
        "ci_high of loa_high of nodule volume (95% CI) <= 15 mL"
    )
    block = doc["measurement"]
    assert block["n"] == len(pairs)
    site_rows = [r for r in block["subgroups"] if r["attribute"] == "site"]
    assert sorted(r["level"] for r in site_rows) == sorted(pairs["site"].unique())
    assert sum(r["n"] for r in site_rows) == len(pairs)
    assert doc["verdict"]["decision"] == "pass"


def test_measurement_failing_limit_fails_the_study(layout: Path) -> None:
    _write_truthing(layout)
    _write_volumes(layout, bias=4.0, sd=8.0)  # upper limit ~ 4 + 1.96 * 8 = 19.7 mL > 15
    outcome = run_study(
        _protocol(layout, measurement=True),
        out_dir=layout / "studies" / "m",
        allow_unlocked=True,
        render=False,
    )
    doc = json.loads(outcome.results_path.read_text(encoding="utf-8"))
    eps = {e["id"]: e for e in doc["endpoints"]}
    assert eps["volume_loa_high"]["decision"] == "fail"
    assert outcome.exit_code == 1


def test_measurement_missing_value_is_an_input_error(layout: Path) -> None:
    _write_truthing(layout)
    _write_volumes(layout)
    path = layout / "scores" / "volumes.csv"
    frame = pd.read_csv(path, dtype={"case_id": str})
    frame.iloc[1:].to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        run_study(
            _protocol(layout, measurement=True),
            out_dir=layout / "studies" / "m",
            allow_unlocked=True,
            render=False,
        )
    assert "volumes.csv: 1 analysed case(s) with a reference measurement have no measurement, " in (
        str(err.value)
    )


def test_protocol_check_reports_truthing_and_measurement_problems(layout: Path) -> None:
    reads = _write_truthing(layout)
    reads.loc[2, "finding"] = ""
    reads.to_csv(layout / "data" / "test" / "truthing.csv", index=False)
    _write_volumes(layout)
    vol = layout / "scores" / "volumes.csv"
    frame = pd.read_csv(vol, dtype=str)
    frame.loc[0, "volume_ml"] = "12,5"
    frame.to_csv(vol, index=False)
    proto = _protocol(layout, measurement=True)
    found = [p.format(proto.name) for p in check_study_protocol(proto)]
    truthing_csv = layout / "data" / "test" / "truthing.csv"
    assert found == [
        f"truthing.yaml:28: test_set.truthing.file: {truthing_csv}: row 3, field 'label': "
        "expected a value, found an empty cell",
        f"truthing.yaml:65: measurement.measurements: {vol}: row 1, field 'value': expected a "
        "finite number, found '12,5'",
    ]


def test_protocol_check_derive_needs_no_manifest_label(layout: Path) -> None:
    _write_truthing(layout)
    manifest_path = layout / "data" / "test" / "manifest.csv"
    pd.read_csv(manifest_path).drop(columns=["label"]).to_csv(manifest_path, index=False)
    assert check_study_protocol(_protocol(layout, use="derive")) == []
    problems = check_study_protocol(_protocol(layout, use="check"))
    assert [p.path for p in problems] == ["test_set.label_column"]


def test_protocol_check_names_the_missing_reference_column(layout: Path) -> None:
    _write_truthing(layout)
    _write_volumes(layout)
    proto = _protocol(layout, measurement=True)
    proto.write_text(proto.read_text().replace("ref_volume_ml", "ref_vol"))
    (problem,) = check_study_protocol(proto)
    assert problem.path == "measurement.reference_column"
    assert problem.message.startswith(
        f"{layout / 'data' / 'test' / 'manifest.csv'}: column 'ref_vol' "
        "(measurement.reference_column) is missing; columns are ['case_id', "
    )


def test_truthing_file_edited_after_the_lock_is_refused(layout: Path) -> None:
    _write_truthing(layout)
    proto = _protocol(layout)
    lock = lock_protocol(proto, actor="tester")
    assert "test_set.truthing.file" in json.dumps(lock.data)
    path = layout / "data" / "test" / "truthing.csv"
    path.write_text(path.read_text().replace("abnormal", "normal", 1))
    with pytest.raises(InputError) as err:
        run_study(proto, out_dir=layout / "studies" / "t", render=False)
    assert "test_set.truthing.file" in str(err.value)


def test_undefined_agreement_is_recorded_not_estimable(layout: Path) -> None:
    reads = _write_truthing(layout)
    # every read says "abnormal": kappa and alpha are undefined (one category only)
    reads.assign(finding="abnormal").to_csv(layout / "data" / "test" / "truthing.csv", index=False)
    outcome = run_study(
        _protocol(layout), out_dir=layout / "studies" / "t", allow_unlocked=True, render=False
    )
    doc = json.loads(outcome.results_path.read_text(encoding="utf-8"))
    stats = {a["statistic"]: a for a in doc["truthing"]["agreement"]}
    assert stats["percent_agreement"]["estimate"] == 1.0
    for name in ("cohen_kappa", "fleiss_kappa", "krippendorff_alpha"):
        assert stats[name]["estimate"] is None and stats[name]["ci_low"] is None
        assert stats[name]["not_estimable_reason"], name
    # every case is now adjudicated positive: the check lists the manifest's negatives
    n_neg = int((pd.read_csv(layout / "data" / "test" / "manifest.csv")["label"] == 0).sum())
    assert doc["truthing"]["check"]["n_discordant"] == n_neg


def test_majority_tie_without_a_tie_rule_is_an_input_error(layout: Path) -> None:
    reads = _write_truthing(layout)
    path = layout / "data" / "test" / "truthing.csv"
    reads[reads["radiologist"] != "ADJ"].to_csv(path, index=False)  # two truthers, no adjudicator
    proto = _protocol(layout)
    text = proto.read_text().replace("rule: consensus_with_adjudicator", "rule: majority")
    proto.write_text(text.replace("    adjudicator: ADJ\n", ""))
    with pytest.raises(InputError) as err:
        run_study(proto, out_dir=layout / "studies" / "t", allow_unlocked=True, render=False)
    assert str(err.value).startswith(f"{path}: ")
    assert "tie" in str(err.value)
    # protocol check finds it too, on the rule, in derive mode
    proto.write_text(proto.read_text().replace("use: check", "use: derive"))
    (problem,) = check_study_protocol(proto)
    assert problem.path == "test_set.truthing.rule" and problem.message == str(err.value)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"file": "t.csv", "rule": "consensus_with_adjudicator"},
            "rule consensus_with_adjudicator needs `adjudicator` (a truther id)",
        ),
        (
            {"file": "t.csv", "rule": "any_positive", "on_tie": "unresolved"},
            "`on_tie` is only used with rule: majority",
        ),
        (
            {"file": "t.csv", "rule": "majority", "positive": 5, "categories": [1, 2, 3]},
            "`positive` (5) must be one of `categories` [1, 2, 3]",
        ),
        (
            {"file": "t.csv", "rule": "majority", "statistics": ["gwet_ac1", "gwet_ac1"]},
            "`statistics` lists a statistic twice",
        ),
        (
            {"file": "t.csv", "rule": "majority", "columns": {"reader": "x"}},
            "unknown column key(s) ['reader']",
        ),
    ],
)
def test_truthing_block_schema_errors(block: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError) as err:
        Truthing.model_validate(block)
    assert message in str(err.value)


def test_measurement_primary_needs_a_criterion() -> None:
    with pytest.raises(ValidationError) as err:
        MeasurementEndpoint.model_validate({"id": "x", "role": "primary", "metric": "bias"})
    assert "a primary endpoint needs an acceptance criterion (`accept`)" in str(err.value)
    with pytest.raises(ValidationError):
        MeasurementEndpoint.model_validate({"id": "x", "role": "secondary", "metric": "rmse"})


def test_measurement_without_clusters_uses_exact_limits_and_flags_tiny_subgroups(
    layout: Path,
) -> None:
    _write_truthing(layout)
    pairs = _write_volumes(layout)
    manifest_path = layout / "data" / "test" / "manifest.csv"
    manifest = pd.read_csv(manifest_path, dtype={"case_id": str})
    first = pairs["case_id"].iloc[0]
    manifest.loc[manifest["case_id"] == first, "site"] = "site_tiny"  # one pair only
    manifest.to_csv(manifest_path, index=False)
    proto = _protocol(layout, measurement=True)
    proto.write_text(
        proto.read_text().replace("cluster_column: patient_id", "cluster_column: null")
    )
    outcome = run_study(proto, out_dir=layout / "studies" / "m", allow_unlocked=True, render=False)
    doc = json.loads(outcome.results_path.read_text(encoding="utf-8"))
    ba = bland_altman(pairs["measured"], pairs["reference"], method="exact")
    eps = {e["id"]: e for e in doc["endpoints"]}
    assert eps["volume_loa_high"]["method"] == "exact_carkeet_2015"
    assert eps["volume_loa_high"]["ci_low"] == pytest.approx(ba.loa_high.ci_low, abs=1e-12)
    assert doc["measurement"]["n_subjects"] == len(pairs)
    tiny = next(r for r in doc["measurement"]["subgroups"] if r["level"] == "site_tiny")
    assert tiny["n"] == 1 and tiny["metrics"] is None and tiny["not_estimable_reason"]


def test_measurement_log_scale_needs_positive_values(layout: Path) -> None:
    _write_truthing(layout)
    _write_volumes(layout)
    path = layout / "scores" / "volumes.csv"
    frame = pd.read_csv(path, dtype={"case_id": str})
    frame.loc[2, "volume_ml"] = 0.0
    frame.to_csv(path, index=False)
    proto = _protocol(layout, measurement=True)
    proto.write_text(proto.read_text().replace("  unit: mL\n", "  unit: mL\n  log: true\n"))
    with pytest.raises(InputError) as err:
        run_study(proto, out_dir=layout / "studies" / "m", allow_unlocked=True, render=False)
    assert str(err.value) == (
        f"{path}: row 3: expected a positive value (measurement.log), found 0"
    )


def test_bad_manifest_label_with_truthing_check_is_the_label_error(layout: Path) -> None:
    _write_truthing(layout)
    manifest_path = layout / "data" / "test" / "manifest.csv"
    manifest = pd.read_csv(manifest_path)
    manifest.loc[4, "label"] = 7
    manifest.to_csv(manifest_path, index=False)
    with pytest.raises(InputError) as err:
        run_study(
            _protocol(layout), out_dir=layout / "studies" / "t", allow_unlocked=True, render=False
        )
    assert str(err.value).endswith(
        "manifest.csv: row 6 (case_id 'C0004'), column 'label': expected 0 or 1, found '7'"
    )
