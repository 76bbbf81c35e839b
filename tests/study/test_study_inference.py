"""The runner's inference path: a protocol naming a model spec + checkpoint, no scores file.

End to end on a tiny synthetic set: train one epoch with :func:`validation.modeling.train_model`,
lock a protocol that names the resolved spec, the checkpoint and the model card, run it,
and check that the runner scored every case through :func:`validation.modeling.predict_scores`
and recorded the provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from validation.data.synthetic import generate_synthetic_dataset
from validation.io import sha256_file
from validation.protocol.lock import lock_protocol
from validation.study import run_study

REPO = Path(__file__).resolve().parents[2]

PROTOCOL = """version: 1
study:
  id: inference-path
  title: Inference through the modeling layer
  version: "1.0"
  intended_use: Test of the runner's inference path.
  population: Synthetic cases.
test_set:
  manifest: ../test/manifest.csv
  label_column: label
  cluster_column: patient_id
  missing_outputs: worst_case
model:
  name: tiny
  spec: ../model/{spec}
  checkpoint: ../model/{checkpoint}
  checkpoint_sha256: {sha}
  card: ../model/model_card.json
endpoints:
  - id: auc
    role: primary
    metric: auc
    ci: {{method: delong}}
    accept: {{bound: ci_low, op: ">=", value: 0.0}}
n_resamples: 50
seed: 11
"""


def test_run_scores_the_test_set_through_the_modeling_layer(tmp_path: Path) -> None:
    from validation.modeling import train_model

    train = generate_synthetic_dataset(
        tmp_path / "train", n_cases=24, image_size=32, seed=1, id_prefix="R"
    )
    test = generate_synthetic_dataset(
        tmp_path / "test", n_cases=24, image_size=32, seed=2, id_prefix="T"
    )
    spec_text = (REPO / "models" / "demo_classifier.yaml").read_text(encoding="utf-8")
    assert "size: [128, 128]" in spec_text
    spec = tmp_path / "tiny.yaml"
    spec.write_text(spec_text.replace("size: [128, 128]", "size: [32, 32]"), encoding="utf-8")
    trained = train_model(
        spec,
        manifest=train.manifest_path,
        out_dir=tmp_path / "model",
        test_manifest=test.manifest_path,
        max_epochs=1,
        seed=0,
    )

    (tmp_path / "protocols").mkdir()
    proto = tmp_path / "protocols" / "inference.yaml"
    proto.write_text(
        PROTOCOL.format(
            spec=Path(trained.spec_path).name,
            checkpoint=Path(trained.checkpoint_path).name,
            sha=trained.checkpoint_sha256,
        ),
        encoding="utf-8",
    )
    lock_protocol(proto, actor="tester")  # before any test-set score exists
    assert not (tmp_path / "study").exists()
    out = run_study(proto, out_dir=tmp_path / "study", render=False)
    doc = json.loads(out.results_path.read_text(encoding="utf-8"))

    produced = tmp_path / "study" / "scores" / "model.parquet"
    assert produced.is_file()
    scores = pd.read_parquet(produced)
    manifest = pd.read_csv(test.manifest_path, dtype={"case_id": str})
    assert sorted(scores["case_id"]) == sorted(manifest["case_id"])
    # produced by the runner, so not declared in the protocol; hashed all the same
    assert doc["inputs"]["scores"] == {
        "path": str(produced),
        "sha256": sha256_file(produced),
        "declared": None,
    }
    model = doc["model"]
    assert (
        model["checkpoint_sha256"]
        == trained.checkpoint_sha256
        == sha256_file(trained.checkpoint_path)
    )
    assert model["spec_sha256"] == sha256_file(trained.spec_path)
    assert model["model_card"] == json.loads(
        Path(trained.model_card_json_path).read_text(encoding="utf-8")
    )
    assert model["provenance"]["checkpoint_sha256"] == trained.checkpoint_sha256
    assert model["provenance"]["n_scored"] == len(manifest)
    assert doc["inputs"]["model_card"]["sha256"] == sha256_file(trained.model_card_json_path)
    # the spec selects its threshold on a tuning split; the protocol states none and takes
    # the card's, and so did radval predict
    card = json.loads(Path(trained.model_card_json_path).read_text(encoding="utf-8"))
    assert card["operating_point"]["selection"]["rule"] == "sensitivity"
    assert (
        model["threshold"]
        == card["operating_point"]["threshold"]
        == trained.operating_point["threshold"]
    )
    assert model["threshold_source"] == "model card"
    assert model["provenance"]["operating_threshold"] == model["threshold"]
    assert doc["data_summary"]["flow"]["threshold"] == model["threshold"]
    flow = doc["data_summary"]["flow"]
    assert flow["assessed"] == flow["analysed"] == len(manifest) and flow["excluded"] == []
    assert doc["roc"]["n_positive"] + doc["roc"]["n_negative"] == len(manifest)
    assert doc["endpoints"][0]["n"] == len(manifest)
