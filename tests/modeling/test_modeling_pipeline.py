"""Train -> predict on the synthetic set: determinism, provenance, resume, failures, DDP, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from validation.cli import main
from validation.data.dicom import read_dicom
from validation.data.synthetic import generate_synthetic_dataset
from validation.errors import CheckpointError, DicomReadError, ManifestError
from validation.io import sha256_file
from validation.modeling.datamodule import build_transforms
from validation.modeling.networks import build_network
from validation.modeling.predict import predict_scores
from validation.modeling.spec import load_spec
from validation.modeling.train import train_model
from validation.modeling.writer import ShardWriter, read_scores_metadata

MODELS = Path(__file__).resolve().parents[2] / "models"


def _radval(*args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validation", *args], capture_output=True, text=True, timeout=timeout
    )


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The console script's entry point in this process (importing torch once keeps the
    suite fast); the DDP test below runs the real command in a subprocess."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _tiny_spec(path: Path, base: str, **network_args: Any) -> Path:
    data = yaml.safe_load((MODELS / base).read_text())
    data["input"]["size"] = [32, 32]
    data["network"]["args"] = network_args
    data["training"].update(max_epochs=1, batch_size=8, num_workers=0)
    # a fixed threshold here; selection on a tuning split: tests/modeling/test_operating_point.py
    data["operating_point"] = {"threshold": 0.5}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("modeling")
    train = generate_synthetic_dataset(
        root / "train", n_cases=32, seed=1, image_size=64, prevalence=0.5, id_prefix="MA"
    )
    test = generate_synthetic_dataset(
        root / "test", n_cases=22, seed=2, image_size=64, prevalence=0.5, id_prefix="MB"
    )
    cls = _tiny_spec(
        root / "cls.yaml",
        "demo_classifier.yaml",
        init_features=4,
        growth_rate=4,
        block_config=[1, 1],
        bn_size=2,
    )
    seg = _tiny_spec(
        root / "seg.yaml",
        "demo_segmentation.yaml",
        channels=[4, 8],
        strides=[2],
        num_res_units=0,
        norm="batch",
    )
    result = train_model(
        cls,
        manifest=train.manifest_path,
        out_dir=root / "run",
        val_manifest=test.manifest_path,
        seed=3,
    )
    return {
        "root": root,
        "train": train.manifest_path,
        "test": test.manifest_path,
        "cls": cls,
        "seg": seg,
        "run": root / "run",
        "resolved": result.spec_path,
    }


def test_training_is_deterministic_and_writes_provenance(work: dict[str, Path]) -> None:
    run = work["run"]
    first = (run / "model.pt").read_bytes()
    again = train_model(
        work["cls"],
        manifest=work["train"],
        out_dir=work["root"] / "again",
        val_manifest=work["test"],
        seed=3,
    )
    assert again.checkpoint_path.read_bytes() == first
    assert again.checkpoint_sha256 == sha256_file(run / "model.pt")
    assert (run / "model.pt.sha256").read_text().split()[0] == again.checkpoint_sha256
    other = train_model(work["cls"], manifest=work["train"], out_dir=work["root"] / "seed4", seed=4)
    assert other.checkpoint_sha256 != again.checkpoint_sha256
    resolved = load_spec(work["resolved"])
    assert resolved.checkpoint.path == "model.pt"
    assert resolved.checkpoint.sha256 == again.checkpoint_sha256
    assert 0.0 <= again.metrics["val_auc"] <= 1.0 and again.metrics["train_loss"] > 0
    card = json.loads((run / "model_card.json").read_text())
    assert card["training_data"]["n_cases"] == 32
    assert card["training_data"]["class_counts"]["lesion"] == int(
        pd.read_csv(work["train"])["label"].sum()
    )
    md = (run / "model_card.md").read_text()
    for heading in ("## Intended use", "## Training data", "## Limitations", "## Metrics"):
        assert heading in md
    assert again.checkpoint_sha256 in md
    # weights only: a plain state dict that loads without unpickling objects
    state = torch.load(run / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_scores_match_an_independent_forward_pass(work: dict[str, Path]) -> None:
    out = work["root"] / "scores.parquet"
    res = predict_scores(
        work["resolved"],
        manifest=work["test"],
        out=out,
        batch_size=5,
        num_workers=0,
        progress=False,
    )
    scores = pd.read_parquet(out)
    manifest = pd.read_csv(work["test"])
    assert list(scores.columns) == ["case_id", "score"]
    assert list(scores["case_id"]) == list(manifest["case_id"]) and res.n_scored == 22
    assert res.failures == ()
    # the slow twin: preprocess one case at a time with the spec's MONAI chain, plain forward
    spec = load_spec(work["resolved"])
    net = build_network(spec.network, in_channels=1, n_classes=2)
    net.load_state_dict(torch.load(work["run"] / "model.pt", weights_only=True))
    net.eval()
    chain = build_transforms(spec, with_mask=False, train=False)
    root = work["test"].parent
    with torch.no_grad():
        twin = [
            float(torch.softmax(net(chain({"image": str(root / p)})["image"][None]), 1)[0, 1])
            for p in manifest["path"]
        ]
    np.testing.assert_allclose(scores["score"], twin, rtol=0, atol=1e-5)
    meta = read_scores_metadata(out)
    assert meta["checkpoint_sha256"] == sha256_file(work["run"] / "model.pt")
    assert meta["manifest"]["sha256"] == sha256_file(work["test"])
    assert meta["model"]["spec_sha256"] == sha256_file(work["resolved"])
    assert meta["software"]["torch"] == torch.__version__
    assert meta["device"]["accelerator"] == "cpu" and meta["n_failed"] == 0
    assert not out.with_name(out.name + ".parts").exists()


def test_resume_after_a_crash_gives_identical_bytes(
    work: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    full = work["root"] / "full" / "s.parquet"
    predict_scores(
        work["resolved"],
        manifest=work["test"],
        out=full,
        batch_size=4,
        num_workers=0,
        progress=False,
    )
    crashed = work["root"] / "crash" / "s.parquet"
    original = ShardWriter.write_on_batch_end
    calls = {"n": 0}

    def dying(self: ShardWriter, *args: Any, **kwargs: Any) -> None:
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        calls["n"] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(ShardWriter, "write_on_batch_end", dying)
    with pytest.raises(RuntimeError, match="simulated crash"):
        predict_scores(
            work["resolved"],
            manifest=work["test"],
            out=crashed,
            batch_size=4,
            num_workers=0,
            progress=False,
        )
    parts = crashed.with_name("s.parquet.parts")
    assert sorted(p.name for p in parts.glob("group-*.parquet")) == [
        "group-00000000.parquet",
        "group-00000001.parquet",
        "group-00000002.parquet",
    ]
    assert not crashed.exists()
    monkeypatch.setattr(ShardWriter, "write_on_batch_end", original)
    res = predict_scores(
        work["resolved"],
        manifest=work["test"],
        out=crashed,
        batch_size=4,
        num_workers=0,
        progress=False,
    )
    assert res.resumed_groups == 3
    assert crashed.read_bytes() == full.read_bytes()


def test_bad_cases_are_reported_not_dropped(
    work: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = work["test"].parent
    frame = pd.read_csv(work["test"])
    bad_dir = root / "bad"
    bad_dir.mkdir(exist_ok=True)
    truncated = bad_dir / "truncated.dcm"
    data = (root / frame.loc[3, "path"]).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    frame.loc[3, "path"] = "bad/truncated.dcm"
    frame.loc[7, "path"] = "bad/missing.dcm"
    frame = frame.drop(columns=["sha256"])
    broken = root / "broken.csv"
    frame.to_csv(broken, index=False)
    out = work["root"] / "broken" / "s.parquet"
    res = predict_scores(
        work["resolved"], manifest=broken, out=out, batch_size=4, num_workers=1, progress=False
    )
    assert res.n_scored == 20
    assert [(f.case_id, f.row) for f in res.failures] == [
        (frame.loc[3, "case_id"], 5),
        (frame.loc[7, "case_id"], 9),
    ]
    assert "truncated" in res.failures[0].error
    assert "missing.dcm: file not found" in res.failures[1].error
    meta = read_scores_metadata(out)
    assert meta["n_failed"] == 2 and [f["case_id"] for f in meta["failures"]] == [
        f.case_id for f in res.failures
    ]
    listed = pd.read_csv(out.with_name("s.failures.csv"))
    assert list(listed["case_id"]) == [f.case_id for f in res.failures]
    scored = set(pd.read_parquet(out)["case_id"])
    assert scored | {f.case_id for f in res.failures} == set(frame["case_id"])
    with pytest.raises(
        DicomReadError, match=rf"case '{frame.loc[3, 'case_id']}' \(manifest row 5\)"
    ):
        predict_scores(
            work["resolved"],
            manifest=broken,
            out=work["root"] / "stop.parquet",
            batch_size=4,
            num_workers=0,
            on_error="stop",
            progress=False,
        )
    code, _, err = _main(
        capsys,
        "predict",
        str(work["resolved"]),
        "--manifest",
        str(broken),
        "--out",
        str(work["root"] / "stop2.parquet"),
        "--on-error",
        "stop",
        "--num-workers",
        "0",
        "--no-progress",
    )
    assert code == 2, err
    assert err.startswith("radval: error: case ") and err.count("\n") == 1
    code, out_text, err = _main(
        capsys,
        "predict",
        str(work["resolved"]),
        "--manifest",
        str(broken),
        "--out",
        str(work["root"] / "cont.parquet"),
        "--num-workers",
        "0",
        "--no-progress",
    )
    assert code == 0
    assert "20 scored, 2 failed" in out_text
    assert "radval: warning: 2 case(s) could not be scored" in err


def test_wrong_or_unsafe_checkpoint_is_refused(
    work: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CheckpointError, match="sha256 mismatch: expected 0{64}"):
        predict_scores(
            work["resolved"],
            manifest=work["test"],
            out=work["root"] / "x.parquet",
            expected_sha256="0" * 64,
            progress=False,
        )
    code, _, err = _main(
        capsys,
        "predict",
        str(work["cls"]),
        "--checkpoint",
        str(work["run"] / "model.pt"),
        "--manifest",
        str(work["test"]),
        "--out",
        str(work["root"] / "y.parquet"),
        "--expected-sha256",
        "f" * 64,
    )
    assert code == 2
    assert err.count("\n") == 1 and "sha256 mismatch" in err
    # A pickle carrying an arbitrary object, even with its true hash, is never unpickled.
    evil = work["root"] / "evil.pt"
    torch.save({"weights": _NotATensor()}, evil)
    with pytest.raises(CheckpointError, match="cannot be loaded as a weights-only state dict"):
        predict_scores(
            work["cls"],
            checkpoint=evil,
            expected_sha256=sha256_file(evil),
            manifest=work["test"],
            out=work["root"] / "z.parquet",
            progress=False,
        )


class _NotATensor:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("unpickled!",))


def test_training_refuses_leakage_with_the_test_set(work: dict[str, Path]) -> None:
    with pytest.raises(ManifestError, match=r"shared patient\(s\)") as info:
        train_model(
            work["cls"],
            manifest=work["train"],
            out_dir=work["root"] / "leak",
            test_manifest=work["train"],
        )
    n_patients = pd.read_csv(work["train"])["patient_id"].nunique()
    assert f"{n_patients} shared patient(s)" in str(info.value)
    assert not (work["root"] / "leak" / "model.pt").exists()


def test_segmentation_train_and_masks(work: dict[str, Path]) -> None:
    res = train_model(
        work["seg"],
        manifest=work["train"],
        out_dir=work["root"] / "segrun",
        val_manifest=work["test"],
        seed=0,
    )
    assert 0.0 <= res.metrics["val_dice"] <= 1.0
    out = work["root"] / "seg" / "masks.parquet"
    pr = predict_scores(
        res.spec_path, manifest=work["test"], out=out, batch_size=8, num_workers=0, progress=False
    )
    table = pd.read_parquet(out)
    assert list(table.columns) == ["case_id", "mask_path"] and pr.n_scored == 22
    first = table.iloc[0]
    mask = np.asarray(nib.load(out.parent / first["mask_path"]).dataobj)
    manifest = pd.read_csv(work["test"]).set_index("case_id")
    image = read_dicom(work["test"].parent / manifest.loc[first["case_id"], "path"]).pixels
    assert mask.shape == image.shape and set(np.unique(mask)) <= {0, 1}


def test_cli_train_reproduces_the_api_checkpoint(
    work: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = work["root"] / "cli"
    code, out_text, err = _main(
        capsys,
        "train",
        str(work["cls"]),
        "--manifest",
        str(work["train"]),
        "--val-manifest",
        str(work["test"]),
        "--out",
        str(out_dir),
        "--max-epochs",
        "1",
        "--seed",
        "3",
    )
    assert code == 0, err
    assert f"sha256: {sha256_file(work['run'] / 'model.pt')}" in out_text  # same seed
    assert "metrics: train_loss=" in out_text and "val_auc=" in out_text


@pytest.mark.slow
def test_cli_ddp_subprocess_equals_single_process(work: dict[str, Path]) -> None:
    """``--strategy ddp`` re-launches ``python -m validation predict`` for rank 1."""
    single = work["root"] / "single.parquet"
    predict_scores(
        work["resolved"],
        manifest=work["test"],
        out=single,
        batch_size=5,
        num_workers=0,
        progress=False,
    )
    ddp = work["root"] / "ddp" / "s.parquet"
    cli = _radval(
        "predict",
        str(work["resolved"]),
        "--manifest",
        str(work["test"]),
        "--out",
        str(ddp),
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--accelerator",
        "cpu",
        "--batch-size",
        "5",
        "--num-workers",
        "0",
        "--no-progress",
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.count("scores: ") == 1  # only rank 0 reports
    pd.testing.assert_frame_equal(pd.read_parquet(single), pd.read_parquet(ddp), check_exact=True)
    meta = pq.read_schema(ddp).metadata
    assert json.loads(meta[b"radval"])["device"]["world_size"] == 2


def test_leakage_cli_exit_code(work: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(work["root"] / "leak2", ignore_errors=True)
    code, _, err = _main(
        capsys,
        "train",
        str(work["cls"]),
        "--manifest",
        str(work["train"]),
        "--out",
        str(work["root"] / "leak2"),
        "--test-manifest",
        str(work["train"]),
    )
    assert code == 2
    assert "shared patient(s)" in err and err.count("\n") == 1


def test_two_process_ddp_fork_equals_single_process(work: dict[str, Path]) -> None:
    single = work["root"] / "single_fork.parquet"
    predict_scores(
        work["resolved"],
        manifest=work["test"],
        out=single,
        batch_size=5,
        num_workers=0,
        progress=False,
    )
    ddp = work["root"] / "fork" / "s.parquet"
    res = predict_scores(
        work["resolved"],
        manifest=work["test"],
        out=ddp,
        batch_size=5,
        num_workers=0,
        progress=False,
        accelerator="cpu",
        devices=2,
        strategy="ddp_fork",
    )
    # 22 cases in 5 groups over 2 ranks: the sampler pads rank 1 with group 0 again
    assert res.n_scored == 22 and res.metadata["device"]["world_size"] == 2
    pd.testing.assert_frame_equal(pd.read_parquet(single), pd.read_parquet(ddp), check_exact=True)


def test_progress_in_images_and_stale_parts_discarded(
    work: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = work["root"] / "stale" / "s.parquet"
    parts = out.with_name("s.parquet.parts")
    parts.mkdir(parents=True)
    (parts / "run.json").write_text('{"model": "another one"}')
    pd.DataFrame({"case_id": ["zz"], "score": [0.5], "row": [2], "error": [None]}).to_parquet(
        parts / "group-00000000.parquet"
    )
    capsys.readouterr()
    res = predict_scores(
        work["resolved"], manifest=work["test"], out=out, batch_size=8, num_workers=0, progress=True
    )
    err = capsys.readouterr().err
    assert res.resumed_groups == 0 and res.n_scored == 22
    assert "belongs to another run" in err
    assert "22/22" in err and "img/s" in err
    assert "zz" not in set(pd.read_parquet(out)["case_id"])
