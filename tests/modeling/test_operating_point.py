"""Operating-point selection at training time: the spec, the tuning split, the card, predict.

A spec with ``operating_point.select`` makes ``radval train`` hold out a patient-grouped
tuning split, train on the rest, choose the threshold there by the rule and record it all
in the model card; ``radval predict`` then takes the card's threshold.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from validation.cli import main
from validation.data.synthetic import generate_synthetic_dataset
from validation.errors import CheckpointError, ManifestError
from validation.io import sha256_file
from validation.modeling.predict import predict_scores
from validation.modeling.spec import ModelSpecError, load_spec
from validation.modeling.train import train_model
from validation.modeling.tuning import case_list_sha256, split_tuning
from validation.stats import (
    select_threshold,
    sensitivity,
    specificity,
    threshold_bootstrap,
)

MODELS = Path(__file__).resolve().parents[2] / "models"
SELECT = {
    "rule": "sensitivity",
    "target": 0.8,
    "on": "tuning",
    "fraction": 0.3,
    "seed": 5,
    "n_bootstrap": 200,
}


def _spec(path: Path, operating_point: dict[str, Any]) -> Path:
    data = yaml.safe_load((MODELS / "demo_classifier.yaml").read_text())
    data["input"]["size"] = [32, 32]
    data["network"]["args"] = {
        "init_features": 4,
        "growth_rate": 4,
        "block_config": [1, 1],
        "bn_size": 2,
    }
    data["training"].update(max_epochs=1, batch_size=8, num_workers=0)
    data["operating_point"] = operating_point
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("opsel")
    train = generate_synthetic_dataset(
        root / "train", n_cases=48, seed=1, image_size=64, prevalence=0.5, id_prefix="OA"
    )
    test = generate_synthetic_dataset(
        root / "test", n_cases=20, seed=2, image_size=64, prevalence=0.5, id_prefix="OB"
    )
    spec = _spec(root / "sel.yaml", {"select": SELECT, "rationale": "triage"})
    result = train_model(
        spec,
        manifest=train.manifest_path,
        out_dir=root / "run",
        test_manifest=test.manifest_path,
        seed=3,
    )
    card = json.loads(result.model_card_json_path.read_text())
    return {
        "root": root,
        "train": train.manifest_path,
        "test": test.manifest_path,
        "spec": spec,
        "result": result,
        "card": card,
    }


# ----------------------------------------------------------------------------- the spec


def _spec_error(tmp_path: Path, operating_point: dict[str, Any], task: str | None = None) -> str:
    path = _spec(tmp_path / "bad.yaml", operating_point)
    if task == "segmentation":
        data = yaml.safe_load((MODELS / "demo_segmentation.yaml").read_text())
        data["operating_point"] = operating_point
        path.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelSpecError) as err:
        load_spec(path)
    return str(err.value).split(": invalid model spec: ", 1)[1]


def test_spec_select_is_validated_with_messages(tmp_path: Path) -> None:
    assert _spec_error(tmp_path, {"rationale": "x"}) == (
        "operating_point: expected `threshold` (a fixed operating threshold) or `select` (a rule "
        "applied on a tuning split at training time), found neither"
    )
    assert _spec_error(tmp_path, {"select": {"rule": "sensitivity"}}) == (
        "operating_point.select: target: rule 'sensitivity' needs a target in (0, 1) (the "
        "sensitivity to reach on the tuning split), found none"
    )
    assert _spec_error(tmp_path, {"select": {"rule": "youden", "target": 0.9}}) == (
        "operating_point.select: target: rule 'youden' takes no target, found 0.9"
    )
    assert _spec_error(tmp_path, {"select": {"rule": "f1", "target": 0.9}}).startswith(
        "operating_point.select.rule: Input should be 'sensitivity', 'specificity' or 'youden'"
    )
    assert _spec_error(tmp_path, {"select": {"rule": "youden", "on": "test"}}).startswith(
        "operating_point.select.on: Input should be 'tuning'"
    )
    assert _spec_error(tmp_path, {"select": {"rule": "youden"}}, task="segmentation") == (
        "<root>: operating_point.select: a threshold is selected on tuning data for binary "
        "classification only; found task 'segmentation' with 2 classes (give a fixed "
        "operating_point.threshold)"
    )


def test_the_issue_syntax_reads_on_as_a_key(tmp_path: Path) -> None:
    # YAML 1.1 turns a bare `on` into true; the spec reads it back as the key `on`
    text = (MODELS / "demo_classifier.yaml").read_text()
    assert "select: {rule: sensitivity, target: 0.90, on: tuning" in text
    assert yaml.safe_load(text)["operating_point"]["select"][True] == "tuning"
    spec = load_spec(MODELS / "demo_classifier.yaml")
    assert spec.operating_point.select is not None
    assert (
        spec.operating_point.select.rule,
        spec.operating_point.select.target,
        spec.operating_point.select.on,
    ) == ("sensitivity", 0.9, "tuning")


# ----------------------------------------------------------------------------- the split


def _frame(n_patients: int = 30) -> tuple[pd.DataFrame, np.ndarray]:
    rows = []
    for p in range(n_patients):
        for k in range(1 + p % 3):  # 1 to 3 cases per patient
            rows.append(
                {
                    "case_id": f"C{p:03d}_{k}",
                    "patient_id": f"P{p:03d}",
                    "study_uid": f"S{p:03d}.{k}",
                    "label": int(p % 4 == 0),
                }
            )
    frame = pd.DataFrame(rows)
    return frame, frame["label"].to_numpy() == 1


def test_split_is_patient_grouped_stratified_and_order_free() -> None:
    frame, pos = _frame()
    split = split_tuning(frame, positive=pos, fraction=0.25, seed=4)
    tune, train = frame.iloc[list(split.tuning_index)], frame.iloc[list(split.train_index)]
    assert not set(tune["patient_id"]) & set(train["patient_id"])
    assert sorted(split.tuning_index + split.train_index) == list(range(len(frame)))
    # 8 of the 30 patients have a positive case: round(0.25 * 8) = 2 held out; of 22 others, 6
    assert tune[tune["label"] == 1]["patient_id"].nunique() == 2
    assert tune[tune["label"] == 0]["patient_id"].nunique() == 6
    assert (split.n_units, split.n_tuning_units) == (30, 8)
    assert split.grouped_by == ("patient_id", "study_uid")
    # the same cases whatever the row order; another seed, another split
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    again = split_tuning(
        shuffled, positive=shuffled["label"].to_numpy() == 1, fraction=0.25, seed=4
    )
    assert set(shuffled.iloc[list(again.tuning_index)]["case_id"]) == set(tune["case_id"])
    other = split_tuning(frame, positive=pos, fraction=0.25, seed=5)
    assert set(frame.iloc[list(other.tuning_index)]["case_id"]) != set(tune["case_id"])


def test_cases_sharing_a_study_or_an_image_stay_on_one_side() -> None:
    frame, pos = _frame(12)
    frame["sha256"] = [f"h{i}" for i in range(len(frame))]
    # patient P001's study also filed under P002, and P003's image duplicated under P004
    frame.loc[frame["patient_id"] == "P002", "study_uid"] = frame.loc[
        frame["patient_id"] == "P001", "study_uid"
    ].iloc[0]
    frame.loc[frame.index[frame["patient_id"] == "P004"][0], "sha256"] = frame.loc[
        frame["patient_id"] == "P003", "sha256"
    ].iloc[0]
    for seed in range(20):
        split = split_tuning(frame, positive=pos, fraction=0.4, seed=seed)
        side = {
            frame["patient_id"].iloc[i]: i in set(split.tuning_index) for i in range(len(frame))
        }
        assert side["P001"] == side["P002"] and side["P003"] == side["P004"]
        assert split.n_units == 10


def test_too_few_patients_for_a_split_is_a_manifest_error() -> None:
    frame = pd.DataFrame({"case_id": ["a", "b", "c"], "patient_id": ["p", "q", "r"]})
    with pytest.raises(ManifestError) as err:
        split_tuning(frame, positive=[True, False, False], fraction=0.3, seed=0, source="train.csv")
    assert str(err.value) == (
        "train.csv: the tuning split needs at least 2 patients with a "
        "positive case (one for training, one for tuning), found 1"
    )


def test_case_list_sha256_is_of_the_sorted_ids() -> None:
    import hashlib

    assert case_list_sha256(["b", "a"]) == hashlib.sha256(b"a\nb\n").hexdigest()


# ----------------------------------------------------------------------------- train + card


def test_tuning_cases_never_enter_training(work: dict[str, Any]) -> None:
    card, manifest = work["card"], pd.read_csv(work["train"], dtype={"case_id": str})
    split = split_tuning(manifest, positive=manifest["label"].to_numpy() == 1, fraction=0.3, seed=5)
    tune_ids = set(manifest["case_id"].iloc[list(split.tuning_index)])
    train_ids = set(manifest["case_id"]) - tune_ids
    ts = card["operating_point"]["selection"]["tuning_split"]
    assert ts["case_list_sha256"] == case_list_sha256(tune_ids)
    assert ts["n_cases"] == len(tune_ids) and ts["n_patients"] == split.n_tuning_units
    assert card["tuning_data"]["case_list_sha256"] == case_list_sha256(tune_ids)
    # the training part is the rest of the manifest, and shares no patient with the tuning part
    assert card["training_data"]["case_list_sha256"] == case_list_sha256(train_ids)
    assert card["training_data"]["n_cases"] == len(train_ids)
    pats = manifest.set_index("case_id")["patient_id"]
    assert not set(pats[list(tune_ids)]) & set(pats[list(train_ids)])
    assert "leakage check passed" in ts["separation"]


def test_the_threshold_is_the_rule_on_the_tuning_scores(work: dict[str, Any]) -> None:
    """Independent path: score the tuning cases with radval predict, apply the rule again."""
    root, card, result = work["root"], work["card"], work["result"]
    manifest = pd.read_csv(work["train"], dtype={"case_id": str})
    split = split_tuning(manifest, positive=manifest["label"].to_numpy() == 1, fraction=0.3, seed=5)
    tune = manifest.iloc[list(split.tuning_index)]
    tune_csv = work["train"].parent / "tuning_only.csv"
    tune.to_csv(tune_csv, index=False)
    out = root / "tuning_scores.parquet"
    predict_scores(
        result.spec_path, manifest=tune_csv, out=out, batch_size=8, num_workers=0, progress=False
    )
    scores = pd.read_parquet(out).set_index("case_id")["score"].reindex(tune["case_id"])
    y, s = tune["label"].to_numpy(), scores.to_numpy()
    chosen = select_threshold(y, s, rule="sensitivity", target=0.8)
    op = card["operating_point"]
    assert op["threshold"] == chosen.threshold == result.operating_point["threshold"]
    assert op["source"] == "selected on the tuning split at training time"
    sel = op["selection"]
    assert (sel["rule"], sel["target"], sel["on"]) == ("sensitivity", 0.8, "tuning")
    called = (s >= chosen.threshold).astype(int)
    for key, fn in (("sensitivity", sensitivity), ("specificity", specificity)):
        est = fn(y, called, method="wilson")
        rec = sel["at_threshold"][key]
        assert (
            rec["estimate"],
            rec["ci_low"],
            rec["ci_high"],
            rec["method"],
            rec["successes"],
            rec["n"],
        ) == (est.estimate, est.ci_low, est.ci_high, "wilson", est.successes, est.n)
    assert sel["at_threshold"]["sensitivity"]["estimate"] >= 0.8
    spread = threshold_bootstrap(
        y,
        s,
        rule="sensitivity",
        target=0.8,
        n_resamples=200,
        rng=np.random.SeedSequence([5, 1]),
        clusters=tune["patient_id"].to_numpy(),
    )
    bs = sel["threshold_bootstrap"]
    assert (bs["sd"], bs["ci_low"], bs["ci_high"], bs["n_resamples"]) == (
        spread.se,
        spread.ci_low,
        spread.ci_high,
        200,
    )
    # the resolved spec carries the chosen threshold and how it was chosen
    resolved = load_spec(result.spec_path)
    assert resolved.operating_point.threshold == chosen.threshold
    assert resolved.operating_point.select is not None


def test_card_records_the_cpu_kernels_and_the_markdown_says_it_all(work: dict[str, Any]) -> None:
    card, result = work["card"], work["result"]
    tr = card["training"]
    assert tr["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert tr["torch_threads"] == torch.get_num_threads()
    assert "byte-identical checkpoint" in tr["reproducibility"]
    md = result.model_card_path.read_text()
    ts = card["operating_point"]["selection"]["tuning_split"]
    assert "## Operating point" in md
    assert f"Threshold: {card['operating_point']['threshold']!r}" in md
    assert f"case list sha256 `{ts['case_list_sha256']}`" in md
    assert f"CPU kernel capability {tr['cpu_capability']}" in md
    assert "| tuning | manifest.csv |" in md


def test_same_spec_same_machine_gives_a_byte_identical_checkpoint(work: dict[str, Any]) -> None:
    root, result = work["root"], work["result"]
    again = train_model(
        work["spec"],
        manifest=work["train"],
        out_dir=root / "again",
        test_manifest=work["test"],
        seed=3,
    )
    assert again.checkpoint_path.read_bytes() == result.checkpoint_path.read_bytes()
    assert again.operating_point == result.operating_point
    assert again.model_card_json_path.read_bytes() == result.model_card_json_path.read_bytes()


def test_test_set_sharing_a_patient_with_the_tuning_split_is_refused(work: dict[str, Any]) -> None:
    root = work["root"]
    manifest = pd.read_csv(work["train"], dtype={"case_id": str})
    split = split_tuning(manifest, positive=manifest["label"].to_numpy() == 1, fraction=0.3, seed=5)
    tuning_patient = manifest["patient_id"].iloc[split.tuning_index[0]]
    test = pd.read_csv(work["test"], dtype={"case_id": str})
    test.loc[0, "patient_id"] = tuning_patient
    leaky = work["test"].parent / "leaky.csv"
    test.to_csv(leaky, index=False)
    with pytest.raises(ManifestError) as err:
        train_model(
            work["spec"], manifest=work["train"], out_dir=root / "leak", test_manifest=leaky, seed=3
        )
    assert str(err.value).startswith(
        f"{work['train']}: the training manifest overlaps the declared test manifest {leaky}: "
        "1 shared patient(s)"
    )
    assert not (root / "leak").exists()


def test_identical_images_across_the_split_are_refused(
    work: dict[str, Any], tmp_path: Path
) -> None:
    """Without a sha256 column duplicates cannot be grouped; the split's check finds them."""
    src = work["train"].parent
    dst = tmp_path / "train"
    shutil.copytree(src, dst)
    manifest = pd.read_csv(dst / "manifest.csv", dtype={"case_id": str}).drop(
        columns=["sha256", "study_uid"]
    )
    split = split_tuning(manifest, positive=manifest["label"].to_numpy() == 1, fraction=0.3, seed=5)
    a, b = split.tuning_index[0], split.train_index[0]
    shutil.copyfile(dst / manifest["path"].iloc[a], dst / manifest["path"].iloc[b])
    manifest.to_csv(dst / "manifest.csv", index=False)
    with pytest.raises(ManifestError) as err:
        train_model(work["spec"], manifest=dst / "manifest.csv", out_dir=tmp_path / "dup", seed=3)
    assert str(err.value) == (
        f"{dst / 'manifest.csv'}: the tuning split cannot be kept apart from the training cases: "
        "1 identical image(s) across the split (identical image files under different "
        "patients); remove the duplicates or add a sha256 column so that they are grouped "
        "together"
    )


# ----------------------------------------------------------------------------- predict


def test_predict_takes_the_cards_threshold(work: dict[str, Any], tmp_path: Path) -> None:
    result, card = work["result"], work["card"]
    thr = card["operating_point"]["threshold"]
    # the source spec selects at training time: the card beside the checkpoint says what
    res = predict_scores(
        work["spec"],
        checkpoint=result.checkpoint_path,
        manifest=work["test"],
        out=tmp_path / "a.parquet",
        num_workers=0,
        progress=False,
    )
    assert res.metadata["operating_threshold"] == thr
    assert res.metadata["operating_point"] == {
        "threshold": thr,
        "source": "model card model_card.json",
        "card_sha256": sha256_file(result.model_card_json_path),
    }
    # without a card there is nothing to take it from
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copyfile(result.checkpoint_path, lone / "model.pt")
    with pytest.raises(CheckpointError) as err:
        predict_scores(
            work["spec"],
            checkpoint=lone / "model.pt",
            manifest=work["test"],
            out=tmp_path / "b.parquet",
            num_workers=0,
            progress=False,
            expected_sha256=result.checkpoint_sha256,
        )
    assert str(err.value) == (
        f"{work['spec']}: operating_point.select chooses the threshold at training time, and no "
        f"model card says what it chose (none at {lone / 'model_card.json'}); give --card "
        "model_card.json written by radval train, or the resolved spec it wrote"
    )


def test_predict_refuses_a_card_that_disagrees(
    work: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = work["result"]
    data = yaml.safe_load(Path(result.spec_path).read_text())
    data["operating_point"]["threshold"] = 0.123
    data["checkpoint"]["path"] = str(result.checkpoint_path)
    stale = tmp_path / "stale.yaml"
    stale.write_text(yaml.safe_dump(data, sort_keys=False))
    thr = work["card"]["operating_point"]["threshold"]
    capsys.readouterr()
    code = main(
        [
            "predict",
            str(stale),
            "--manifest",
            str(work["test"]),
            "--out",
            str(tmp_path / "x.parquet"),
            "--card",
            str(result.model_card_json_path),
            "--num-workers",
            "0",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"radval: error: {stale}: operating_point.threshold is 0.123, but the model "
        f"card {result.model_card_json_path} records {thr!r} for this checkpoint; "
        "use the resolved spec radval train wrote, or the card's threshold\n"
    )
    other = json.loads(result.model_card_json_path.read_text())
    other["checkpoint"]["sha256"] = "0" * 64
    wrong = tmp_path / "other_card.json"
    wrong.write_text(json.dumps(other))
    with pytest.raises(CheckpointError, match="the model card describes checkpoint sha256 0{64}"):
        predict_scores(
            result.spec_path,
            manifest=work["test"],
            out=tmp_path / "y.parquet",
            card=wrong,
            num_workers=0,
            progress=False,
        )


def test_cli_train_reports_the_chosen_operating_point(
    work: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main(
        [
            "train",
            str(work["spec"]),
            "--manifest",
            str(work["train"]),
            "--out",
            str(tmp_path / "cli"),
            "--seed",
            "3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    thr = work["card"]["operating_point"]["threshold"]
    assert f"operating threshold: {thr!r} (selected on the tuning split at training time)" in out
    assert "rule sensitivity >= 0.8 on " in out
    assert sha256_file(tmp_path / "cli" / "model.pt") == work["result"].checkpoint_sha256
