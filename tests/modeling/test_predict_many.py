"""Several models in one pass (predict_many): byte-identical to one run per model."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
import yaml

import validation.data.pixel_cache as pixel_cache_mod
import validation.modeling.datamodule as datamodule_mod
from validation.cli import main
from validation.data.pixel_cache import PixelCache
from validation.data.synthetic import generate_synthetic_dataset
from validation.errors import InputError
from validation.io import sha256_bytes
from validation.modeling.datamodule import case_table
from validation.modeling.module import module_for
from validation.modeling.multi import ModelToScore, MultiScoringGroups, predict_many
from validation.modeling.predict import predict_scores
from validation.modeling.spec import load_spec
from validation.modeling.writer import ShardWriter

MODELS = Path(__file__).resolve().parents[2] / "models"
TINY_CLS = {"init_features": 4, "growth_rate": 4, "block_config": [1, 1], "bn_size": 2}
TINY_SEG = {"channels": [4, 8], "strides": [2], "num_res_units": 0, "norm": "batch"}


def _spec(
    folder: Path,
    base: str,
    name: str,
    seed: int,
    net: dict[str, Any],
    *,
    size: int = 32,
    preprocessing: list[dict[str, Any]] | None = None,
) -> Path:
    """A spec with random weights (seeded), its checkpoint hash and a fixed threshold."""
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((MODELS / base).read_text())
    data["name"] = name
    data["input"]["size"] = [size, size]
    data["network"]["args"] = net
    data["operating_point"] = {"threshold": 0.5}
    if preprocessing is not None:
        data["preprocessing"] = preprocessing
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    torch.manual_seed(seed)
    buf = io.BytesIO()
    torch.save(module_for(load_spec(path)).network_state(), buf)
    (folder / f"{name}.pt").write_bytes(buf.getvalue())
    data["checkpoint"] = {"path": f"{name}.pt", "sha256": sha256_bytes(buf.getvalue())}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("many")
    ds = generate_synthetic_dataset(
        root / "test", n_cases=22, seed=5, image_size=64, prevalence=0.5, id_prefix="MM"
    )
    frame = pd.read_csv(ds.manifest_path).drop(columns=["sha256"])
    data = (ds.root / frame.loc[3, "path"]).read_bytes()
    (ds.root / "truncated.dcm").write_bytes(data[: len(data) // 2])
    frame.loc[3, "path"] = "truncated.dcm"
    frame.loc[7, "path"] = "missing.dcm"
    manifest = ds.root / "with_failures.csv"
    frame.to_csv(manifest, index=False)
    models = root / "models"
    specs = [
        # a and b share decoding and preprocessing; c preprocesses differently; d segments
        _spec(models, "demo_classifier.yaml", "cls_a", 1, TINY_CLS),
        _spec(models, "demo_classifier.yaml", "cls_b", 2, TINY_CLS),
        _spec(
            models,
            "demo_classifier.yaml",
            "cls_c",
            3,
            TINY_CLS,
            size=40,
            preprocessing=[{"kind": "resize", "mode": "bilinear"}, {"kind": "zscore"}],
        ),
        _spec(models, "demo_segmentation.yaml", "seg_d", 4, TINY_SEG),
    ]
    single = root / "single"
    for spec in specs:
        predict_scores(
            spec,
            manifest=manifest,
            out=single / f"{spec.stem}.parquet",
            batch_size=4,
            num_workers=0,
            progress=False,
        )
    return {"root": root, "manifest": manifest, "specs": specs, "single": single}


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_one_pass_gives_the_bytes_of_one_run_per_model(work: dict[str, Any]) -> None:
    out = work["root"] / "many"
    results = predict_many(
        work["specs"],
        manifest=work["manifest"],
        out_dir=out,
        batch_size=4,
        num_workers=1,
        progress=False,
    )
    assert [r.scores_path.name for r in results] == [
        "cls_a.parquet",
        "cls_b.parquet",
        "cls_c.parquet",
        "seg_d.parquet",
    ]
    single = _files(work["single"])
    assert _files(out) == single  # scores, provenance, failures CSVs and masks
    assert "seg_d_masks/MM00000.nii.gz" in single or any("seg_d_masks/" in k for k in single)
    for r in results:
        assert r.n_scored == 20 and [f.row for f in r.failures] == [5, 9]
        assert "truncated" in r.failures[0].error
        assert r.failures[1].error.endswith("missing.dcm: file not found")
    # the models really differ (else byte equality would prove little)
    scores = [pd.read_parquet(out / f"cls_{k}.parquet")["score"] for k in "abc"]
    assert not scores[0].equals(scores[1]) and not scores[0].equals(scores[2])


def test_groups_decode_once_and_share_identical_chains(work: dict[str, Any]) -> None:
    specs = [load_spec(p) for p in work["specs"]]
    table = case_table(work["manifest"], specs[0], with_labels=False)
    everything = frozenset(range(6))
    ds = MultiScoringGroups(
        table,
        specs,
        batch_size=4,
        groups=list(range(6)),
        todo=[everything, everything, frozenset({0}), everything],
    )
    assert len(ds.loaders) == 1 and len(ds.chains) == 3 and ds.model_chain == [0, 0, 1, 2]
    item = ds[1]
    a, b, c, d = item["models"]
    assert c is None  # cls_c has group 1 already
    assert torch.equal(a["image"], b["image"]) and a["case_id"] == b["case_id"]
    assert d["image"].shape[-2:] == (32, 32) and item["n_cases"] == 4
    assert [f["row"] for f in a["failures"]] == [9]  # manifest row 9 (index 7) is missing


def test_resume_after_a_crash_mid_run(
    work: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = work["root"] / "crash"
    original = ShardWriter.write_on_batch_end
    calls = {"n": 0}

    def dying(self: ShardWriter, *args: Any, **kwargs: Any) -> None:
        if calls["n"] == 9:  # after 2 groups of the 4 models and one model of group 3
            raise RuntimeError("simulated crash")
        calls["n"] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(ShardWriter, "write_on_batch_end", dying)
    with pytest.raises(RuntimeError, match="simulated crash"):
        predict_many(
            work["specs"],
            manifest=work["manifest"],
            out_dir=out,
            batch_size=4,
            num_workers=0,
            progress=False,
        )
    monkeypatch.setattr(ShardWriter, "write_on_batch_end", original)
    assert not list(out.glob("*.parquet"))  # nothing that looks complete
    results = predict_many(
        work["specs"],
        manifest=work["manifest"],
        out_dir=out,
        batch_size=4,
        num_workers=0,
        progress=False,
    )
    assert [r.resumed_groups for r in results] == [3, 2, 2, 2]
    assert _files(out) == _files(work["single"])


def test_cache_gives_the_same_bytes_and_is_used(
    work: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = work["root"] / "cache"
    single = {k: v for k, v in _files(work["single"]).items() if k.startswith("cls_")}
    decoded: list[str] = []
    real = pixel_cache_mod.read_dicom

    def counted(path: Any, **kwargs: Any) -> Any:
        decoded.append(Path(path).name)
        return real(path, **kwargs)

    for run in ("cold", "warm"):
        if run == "warm":  # a warm run decodes only what failed (never cached)
            decoded.clear()
            monkeypatch.setattr(pixel_cache_mod, "read_dicom", counted)
            monkeypatch.setattr(datamodule_mod, "read_dicom", counted)
        out = work["root"] / f"cached_{run}"
        cache = PixelCache(cache_dir)
        predict_many(
            [ModelToScore(spec=p) for p in work["specs"][:3]],
            manifest=work["manifest"],
            out_dir=out,
            batch_size=4,
            num_workers=0,
            progress=False,
            pixel_cache=cache,
        )
        assert _files(out) == single, run
        # 20 readable files: decoded pixels once, then one input tensor per distinct chain
        # (cls_a and cls_b share theirs); failed cases are never cached
        assert len(list(cache_dir.rglob("*.rvpc"))) == 20 + 2 * 20
        if run == "warm":
            # truncated.dcm misses twice (two chains) and once more for its decoded pixels
            assert (cache.stats.hits, cache.stats.misses) == (40, 3)
            assert set(decoded) == {"truncated.dcm"}
    out = work["root"] / "cached_single.parquet"
    predict_scores(
        work["specs"][0],
        manifest=work["manifest"],
        out=out,
        batch_size=4,
        num_workers=0,
        progress=False,
        pixel_cache=PixelCache(cache_dir),
    )
    assert out.read_bytes() == (work["single"] / "cls_a.parquet").read_bytes()


def test_colliding_names_are_refused(work: dict[str, Any], tmp_path: Path) -> None:
    twin = tmp_path / "cls_a.yaml"
    twin.write_text(work["specs"][0].read_text())
    with pytest.raises(InputError) as info:
        predict_many([work["specs"][0], twin], manifest=work["manifest"], out_dir=tmp_path / "o")
    assert str(info.value) == (
        f"model specs {work['specs'][0]} and {twin} have the same name 'cls_a' and version "
        "'1.0.0', so their scores files would collide; give them different versions or "
        "score them in separate runs"
    )
    with pytest.raises(InputError, match="expected at least one model spec, found none"):
        predict_many([], manifest=work["manifest"], out_dir=tmp_path / "o")


def test_cli_scores_several_specs_into_a_folder(
    work: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out = work["root"] / "cli"
    capsys.readouterr()
    code = main(
        [
            "predict",
            str(work["specs"][0]),
            str(work["specs"][2]),
            "--manifest",
            str(work["manifest"]),
            "--out",
            str(out),
            "--batch-size",
            "4",
            "--num-workers",
            "0",
            "--no-progress",
            "--cache",
            str(work["root"] / "cli_cache"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for name in ("cls_a", "cls_c"):
        assert (out / f"{name}.parquet").read_bytes() == (
            work["single"] / f"{name}.parquet"
        ).read_bytes()
        assert f"{out / name}.parquet (20 scored, 2 failed, 0 group(s) resumed)" in captured.out
    code = main(
        [
            "predict",
            str(work["specs"][0]),
            str(work["specs"][2]),
            "--manifest",
            str(work["manifest"]),
            "--out",
            str(out),
            "--checkpoint",
            "x.pt",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "radval: error: --checkpoint, --expected-sha256 and --card name one model's files: "
        "with 2 specs, each spec must name its checkpoint (checkpoint.path and "
        "checkpoint.sha256)\n"
    )


def test_two_process_ddp_fork_equals_one_run_per_model(work: dict[str, Any]) -> None:
    out = work["root"] / "fork"
    results = predict_many(
        [work["specs"][0], work["specs"][2]],
        manifest=work["manifest"],
        out_dir=out,
        batch_size=4,
        num_workers=0,
        progress=False,
        accelerator="cpu",
        devices=2,
        strategy="ddp_fork",
    )
    for r, name in zip(results, ("cls_a", "cls_c"), strict=True):
        # 22 cases in 6 groups over 2 ranks; every case scored or failed exactly once
        assert r.n_scored == 20 and r.metadata["device"]["world_size"] == 2
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / f"{name}.parquet"),
            pd.read_parquet(work["single"] / f"{name}.parquet"),
            check_exact=True,
        )
