"""``radval train --mlflow``: the training run is recorded and named in the model card."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from mlflow import MlflowClient
from outputs_support import REPO, clean_env, radval

from validation.data.synthetic import generate_synthetic_dataset
from validation.io import sha256_file
from validation.outputs.mlflow_log import card_run_id


def tiny_spec(path: Path) -> Path:
    data = yaml.safe_load((REPO / "models" / "demo_classifier.yaml").read_text())
    data["input"]["size"] = [32, 32]
    data["network"]["args"] = {
        "init_features": 4,
        "growth_rate": 4,
        "block_config": [1, 1],
        "bn_size": 2,
    }
    data["training"].update(max_epochs=1, batch_size=8, num_workers=0)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_train_records_its_run_and_names_it_in_the_model_card(tmp_path: Path) -> None:
    train = generate_synthetic_dataset(
        tmp_path / "train", n_cases=24, seed=1, image_size=32, prevalence=0.5, id_prefix="TR"
    )
    spec = tiny_spec(tmp_path / "tiny.yaml")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "model"
    r = radval(
        "train",
        spec,
        "--manifest",
        train.manifest_path,
        "--out",
        out,
        "--mlflow",
        "--register-model",
        "tiny-classifier",
        env=clean_env(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME="training"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    card = json.loads((out / "model_card.json").read_text())
    run_id = card["mlflow"]["run_id"]
    assert card_run_id({"model": {"model_card": card}}) == run_id
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(run_id)
    assert card["mlflow"] == {
        "run_id": run_id,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": uri,
        "registered_model": {"name": "tiny-classifier", "version": "1"},
    }
    assert client.get_experiment(run.info.experiment_id).name == "training"
    assert run.info.status == "FINISHED"
    assert run.data.params["seed"] == "0" and run.data.params["epochs"] == "1"
    assert run.data.params["training_data_sha256"] == sha256_file(train.manifest_path)
    assert run.data.tags["radval/checkpoint_sha256"] == sha256_file(out / "model.pt")
    assert run.data.metrics == {f"radval/train/{k}": v for k, v in card["metrics"].items()}
    assert sorted(a.path for a in client.list_artifacts(run_id, "model")) == sorted(
        f"model/{n}"
        for n in (
            "model.pt",
            "model.pt.sha256",
            "demo_classifier.resolved.yaml",
            "model_card.md",
            "metrics.json",
            "model_card.json",
        )
    )
    logged_card = Path(
        client.download_artifacts(run_id, "model/model_card.json", str(tmp_path / "dl"))
    )
    assert json.loads(logged_card.read_text()) == card  # the logged card names its own run
    mv = client.get_model_version("tiny-classifier", "1")
    assert mv.run_id == run_id and mv.source == f"runs:/{run_id}/model"
    assert r.stdout.splitlines()[-1].startswith(f"mlflow: run {run_id} (new run, experiment ")

    r = radval(
        "train",
        spec,
        "--manifest",
        train.manifest_path,
        "--out",
        tmp_path / "m2",
        "--mlflow",
        env=clean_env(),
        cwd=tmp_path,
    )
    assert r.returncode == 2 and r.stderr.startswith(
        "radval: error: --mlflow needs the tracking URI in"
    )
    assert not (tmp_path / "m2").exists()  # refused before training
