"""Throughput of ``radval predict`` against the model's own limit (a bare forward loop).

Writes N synthetic 512x512 DICOMs (``validation.data.synthetic``: its mix of explicit VR,
deflated, RLE, JPEG-LS and JPEG 2000 lossless files; ``--unique`` distinct images, each
copied until there are N files), then measures, in one run and with the same network
and weights:

* **decode**: ``read_dicom`` alone, and ``read_dicom`` + the spec's MONAI preprocessing,
  in one process with one thread (= the rate of one DataLoader worker);
* **bare**: a plain ``torch`` forward loop over pre-decoded, pre-processed tensors
  (``inference_mode``, same batch size, same precision / ``channels_last`` on GPU);
* **pipeline**: :func:`validation.modeling.predict.predict_scores` end to end
  (Lightning Trainer start-up, DICOM decoding in ``--workers`` workers, batch groups,
  shard writing, merge), wall clock.

* **K models** (``--ks 1,2,4``; K copies of the network with different random weights):
  :func:`validation.modeling.multi.predict_many` scoring all K in one pass over the
  decoded images, against K separate ``predict_scores`` runs (same outputs, checked
  byte for byte);
* **decoded-image cache**: a cold run that fills a
  :class:`validation.data.pixel_cache.PixelCache`, then a warm run, against the bare
  forward rate;
* **decoders**: every installed pydicom plugin per transfer syntax (ms/image, and
  whether its pixels equal the default's), and which one ``read_dicom`` uses;

and prints tables with the ratios. Runs unchanged on a GPU::

    python benchmarks/bench_predict.py --devices 1 --precision bf16-mixed

Networks: ``--model demo`` is ``models/demo_classifier.yaml`` (a 10k-parameter DenseNet at
128x128, so cheap that decoding dominates on CPU); ``--model densenet121`` is MONAI's
DenseNet121 at 224x224 (a typical production-size classifier).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom
import torch
import yaml
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import UID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from validation.data.dicom import decoding_plugin, read_dicom  # noqa: E402
from validation.data.pixel_cache import PixelCache  # noqa: E402
from validation.data.synthetic import generate_synthetic_dataset  # noqa: E402
from validation.io import sha256_bytes  # noqa: E402
from validation.modeling.datamodule import build_transforms  # noqa: E402
from validation.modeling.module import module_for  # noqa: E402
from validation.modeling.multi import predict_many  # noqa: E402
from validation.modeling.predict import filter_lightning_warnings, predict_scores  # noqa: E402
from validation.modeling.spec import load_spec  # noqa: E402


def _spec(model: str, work: Path, seed: int = 0) -> Path:
    data = yaml.safe_load((ROOT / "models" / "demo_classifier.yaml").read_text())
    # random weights, no training run and so no model card: a fixed threshold
    data["operating_point"] = {"threshold": 0.5}
    if model == "densenet121":
        data["name"] = "bench_densenet121"
        data["network"] = {"name": "DenseNet121", "args": {}}
        data["input"]["size"] = [224, 224]
    data["name"] = f"{data['name']}_{seed}"
    path = work / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    spec = load_spec(path)
    torch.manual_seed(seed)
    buf = io.BytesIO()
    torch.save(module_for(spec).network_state(), buf)
    (work / f"model_{seed}.pt").write_bytes(buf.getvalue())
    data["checkpoint"] = {"path": f"model_{seed}.pt", "sha256": sha256_bytes(buf.getvalue())}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _dataset(work: Path, n: int, unique: int, size: int) -> Path:
    src = generate_synthetic_dataset(
        work / "unique", n_cases=unique, seed=7, image_size=size, id_prefix="BENCH"
    )
    base = pd.read_csv(src.manifest_path)
    (work / "data").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        row = base.iloc[i % len(base)].to_dict()
        rel = f"images/{i:05d}.dcm"
        (work / "data" / "images").mkdir(exist_ok=True)
        shutil.copyfile(src.root / row["path"], work / "data" / rel)
        row.update(case_id=f"B{i:05d}", path=rel)
        row.pop("sha256", None)
        row.pop("mask_path", None)
        rows.append(row)
    manifest = work / "data" / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def _syntax_name(uid: str) -> str:
    return UID(uid).name if uid and uid != "None" else uid


def _decoders(paths: list[str]) -> list[tuple[str, str, float, bool, bool]]:
    """(syntax, plugin, ms/image on one thread, pixels equal to the default's, used)."""
    by_syntax: dict[str, list[Any]] = {}
    for p in paths:
        ds = pydicom.dcmread(p)
        ts = str(ds.file_meta.TransferSyntaxUID)
        if len(by_syntax.setdefault(ts, [])) < 10:
            by_syntax[ts].append(ds)
    rows = []
    for ts, dss in by_syntax.items():
        try:
            plugins = sorted(get_decoder(UID(ts)).available_plugins)
        except NotImplementedError:
            plugins = []
        chosen = decoding_plugin(ts)
        default = [pixel_array(ds) for ds in dss]  # also warms every codec up
        for plugin in [""] + plugins:
            arrays = [pixel_array(ds, decoding_plugin=plugin) for ds in dss]
            t = time.process_time()
            for _ in range(3):
                for ds in dss:
                    pixel_array(ds, decoding_plugin=plugin)
            ms = 1000 * (time.process_time() - t) / (3 * len(dss))
            same = all(
                a.dtype == b.dtype and np.array_equal(a, b)
                for a, b in zip(arrays, default, strict=True)
            )
            used = plugin == chosen
            rows.append((_syntax_name(ts), plugin or "(pydicom default)", ms, same, used))
    return rows


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.parquet"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--unique", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--model", choices=["demo", "densenet121"], default="demo")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--devices", default="1")
    ap.add_argument("--accelerator", default="auto")
    ap.add_argument("--precision", default=None)
    ap.add_argument("--ks", default="1,2,4", help="model counts to compare, e.g. 1,2,4")
    ap.add_argument(
        "--no-separate",
        action="store_true",
        help="do not run the K separate runs; report K x the single-model run instead",
    )
    ap.add_argument("--work", type=Path, default=None, help="reuse/keep this folder")
    args = ap.parse_args()
    filter_lightning_warnings()
    ks = [int(k) for k in args.ks.split(",")]

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_predict_"))
    work.mkdir(parents=True, exist_ok=True)
    manifest = work / "data" / "manifest.csv"
    if not manifest.exists() or len(pd.read_csv(manifest)) != args.n:
        t = time.perf_counter()
        manifest = _dataset(work, args.n, args.unique, args.size)
        print(
            f"wrote {args.n} DICOMs ({args.unique} unique {args.size}x{args.size}) in "
            f"{time.perf_counter() - t:.1f} s",
            file=sys.stderr,
        )
    spec_paths = [_spec(args.model, work, seed) for seed in range(max(ks))]
    spec_path = spec_paths[0]
    spec = load_spec(spec_path)
    frame = pd.read_csv(manifest)
    paths = [str(manifest.parent / p) for p in frame["path"]]

    # --- decode rate of one worker (one process, one thread)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    decoders = _decoders(paths[: args.unique])
    sample = paths[: min(200, len(paths))]
    per_syntax: dict[str, list[float]] = {}
    t = time.perf_counter()
    for p in sample:
        t1 = time.perf_counter()
        image = read_dicom(p)
        per_syntax.setdefault(str(image.header.transfer_syntax), []).append(
            time.perf_counter() - t1
        )
    decode_rate = len(sample) / (time.perf_counter() - t)
    chain = build_transforms(spec, with_mask=False, train=False)
    t = time.perf_counter()
    tensors = [chain({"image": p})["image"] for p in paths]
    prep_rate = len(paths) / (time.perf_counter() - t)
    torch.set_num_threads(threads)

    # --- bare forward loop over pre-decoded tensors, same weights
    dev = torch.device("cuda" if torch.cuda.is_available() and args.accelerator != "cpu" else "cpu")
    module = module_for(spec)
    module.load_network_state(torch.load(work / "model_0.pt", weights_only=True), source="bench")
    net = module.net.eval().to(dev)
    x_all = torch.stack(tensors)
    if dev.type == "cuda":
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    autocast = (
        torch.autocast(dev.type, dtype=torch.bfloat16)
        if args.precision and "bf16" in args.precision
        else None
    )
    bs = args.batch_size

    def bare() -> float:
        with torch.inference_mode():
            for i in range(0, len(x_all), bs):
                x = x_all[i : i + bs].to(dev, non_blocking=True)
                if dev.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
                if autocast is not None:
                    with autocast:
                        y = net(x)
                else:
                    y = net(x)
                torch.softmax(y.float(), 1)[:, 1].cpu()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return 0.0

    bare()  # warm-up (allocator, oneDNN/cuDNN kernel choice)
    t = time.perf_counter()
    bare()
    bare_rate = len(x_all) / (time.perf_counter() - t)
    del tensors

    devices: int | str = int(args.devices) if str(args.devices).isdigit() else args.devices
    run = {
        "manifest": manifest,
        "devices": devices,
        "accelerator": args.accelerator,
        "precision": args.precision,
        "batch_size": bs,
        "num_workers": args.workers,
        "progress": False,
    }

    # --- the full pipeline, end to end: one model
    out = work / "scores.parquet"
    out.unlink(missing_ok=True)
    wall, res = _timed(predict_scores, spec_path, out=out, **run)
    pipe_rate = res.n_scored / wall
    device = res.metadata["device"]

    # --- K models: one pass against K separate runs
    multi: dict[int, tuple[float, float | None, bool | None]] = {}
    for k in ks:
        one_pass = work / f"many_{k}"
        shutil.rmtree(one_pass, ignore_errors=True)
        w_many, _ = _timed(predict_many, spec_paths[:k], out_dir=one_pass, **run)
        # without the measured peer: K x the single-model run above (labelled as derived)
        w_sep: float | None = None if not args.no_separate else -k * wall
        same: bool | None = None
        if not args.no_separate:
            sep = work / f"separate_{k}"
            shutil.rmtree(sep, ignore_errors=True)
            w_sep = 0.0
            for sp in spec_paths[:k]:
                name = load_spec(sp).name
                w, _ = _timed(predict_scores, sp, out=sep / f"{name}.parquet", **run)
                w_sep += w
            same = _bytes(sep) == _bytes(one_pass)
        multi[k] = (w_many, w_sep, same)

    # --- decoded-image cache: cold (fills it), then warm
    cache_dir = work / "pixel_cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    cached: dict[str, float] = {}
    for label in ("cold", "warm"):
        out = work / f"cached_{label}.parquet"
        out.unlink(missing_ok=True)
        cached[label], _ = _timed(
            predict_scores, spec_path, out=out, pixel_cache=PixelCache(cache_dir), **run
        )
        if out.read_bytes() != (work / "scores.parquet").read_bytes():
            raise SystemExit(f"{out}: scores with the cache differ from those without it")
    cached_k = max(ks)
    out_dir = work / "cached_many"
    shutil.rmtree(out_dir, ignore_errors=True)
    cached["warm_many"], _ = _timed(
        predict_many,
        spec_paths[:cached_k],
        out_dir=out_dir,
        pixel_cache=PixelCache(cache_dir),
        **run,
    )
    cache_mb = PixelCache(cache_dir).size_bytes() / 2**20

    _print(
        args=args,
        spec=spec,
        device=device,
        threads=threads,
        n=res.n_scored,
        rates={"decode": decode_rate, "prep": prep_rate, "bare": bare_rate, "pipe": pipe_rate},
        multi=multi,
        cached=cached,
        cached_k=cached_k,
        cache_mb=cache_mb,
        decoders=decoders,
        per_syntax=per_syntax,
    )
    print(
        f"pipeline wall {wall:.1f} s for {res.n_scored} images; failures {len(res.failures)}; "
        f"work folder {work}"
    )


def _print(
    *,
    args: Any,
    spec: Any,
    device: dict[str, Any],
    threads: int,
    n: int,
    rates: dict[str, float],
    multi: dict[int, tuple[float, float | None, bool | None]],
    cached: dict[str, float],
    cached_k: int,
    cache_mb: float,
    decoders: list[tuple[str, str, float, bool, bool]],
    per_syntax: dict[str, list[float]],
) -> None:
    bare_rate = rates["bare"]
    print()
    print(
        f"radval predict benchmark: {args.n} DICOMs {args.size}x{args.size}, model "
        f"{spec.network.name} @ {spec.input.size[0]}x{spec.input.size[1]}, batch "
        f"{args.batch_size}, {args.workers} workers, device {device['accelerator']} "
        f"({device['name']}), precision {device['precision']}, torch threads {threads}"
    )
    print()
    print("| measure | images/s | ratio to bare forward |")
    print("|---|---:|---:|")
    for label, key in (
        ("read_dicom only, 1 worker (1 thread)", "decode"),
        ("read_dicom + MONAI preprocessing, 1 worker", "prep"),
        ("bare torch forward, pre-decoded tensors", "bare"),
        (f"radval predict end to end ({args.workers} workers, incl. start-up)", "pipe"),
    ):
        print(f"| {label} | {rates[key]:,.1f} | {rates[key] / bare_rate:.2f} |")
    for label, key in (("cold", "cold"), ("warm", "warm")):
        rate = n / cached[key]
        print(
            f"| radval predict, {label} decoded-image cache (incl. start-up) | {rate:,.1f} | "
            f"{rate / bare_rate:.2f} |"
        )
    rate = cached_k * n / cached["warm_many"]
    print(
        f"| {cached_k} models in one pass, warm cache (model-images/s) | {rate:,.1f} | "
        f"{rate / bare_rate:.2f} |"
    )
    print(f"\ncache folder after the runs: {cache_mb:,.1f} MiB for {n} images\n")
    print(
        "| K models | one pass (s) | K separate runs (s) | separate / one pass | "
        "one pass / one pass with K=1 | same bytes |"
    )
    print("|---:|---:|---:|---:|---:|---|")
    base = multi[min(multi)][0]
    for k, (w_many, w_sep, same) in sorted(multi.items()):
        sep = "not run" if w_sep is None else f"{abs(w_sep):.1f}"
        if w_sep is not None and w_sep < 0:
            sep += f" (derived: {k} x the single-model run)"
        ratio = "" if w_sep is None else f"{abs(w_sep) / w_many:.2f}"
        print(
            f"| {k} | {w_many:.1f} | {sep} | {ratio} | {w_many / base:.2f} | "
            f"{'n/a' if same is None else same} |"
        )
    print()
    print(
        "| transfer syntax | decoder plugin | ms/image (1 thread, CPU time) | same pixels | used |"
    )
    print("|---|---|---:|---|---|")
    for name, plugin, ms, same, used in decoders:
        print(f"| {name} | {plugin} | {ms:.1f} | {same} | {'yes' if used else ''} |")
    print()
    print("| transfer syntax | files in sample | read_dicom ms/image (1 thread) |")
    print("|---|---:|---:|")
    for name, times in sorted(per_syntax.items(), key=lambda kv: -np.mean(kv[1])):
        print(f"| {_syntax_name(name)} | {len(times)} | {1000 * np.mean(times):.1f} |")
    print()


if __name__ == "__main__":
    main()
