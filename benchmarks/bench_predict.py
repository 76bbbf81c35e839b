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

and prints a table with the pipeline / bare ratio. Runs unchanged on a GPU::

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

import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from validation.data.dicom import read_dicom  # noqa: E402
from validation.data.synthetic import generate_synthetic_dataset  # noqa: E402
from validation.io import sha256_bytes  # noqa: E402
from validation.modeling.datamodule import build_transforms  # noqa: E402
from validation.modeling.module import module_for  # noqa: E402
from validation.modeling.predict import filter_lightning_warnings, predict_scores  # noqa: E402
from validation.modeling.spec import load_spec  # noqa: E402


def _spec(model: str, work: Path) -> Path:
    data = yaml.safe_load((ROOT / "models" / "demo_classifier.yaml").read_text())
    # random weights, no training run and so no model card: a fixed threshold
    data["operating_point"] = {"threshold": 0.5}
    if model == "densenet121":
        data["name"] = "bench_densenet121"
        data["network"] = {"name": "DenseNet121", "args": {}}
        data["input"]["size"] = [224, 224]
    path = work / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    spec = load_spec(path)
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(module_for(spec).network_state(), buf)
    (work / "model.pt").write_bytes(buf.getvalue())
    data["checkpoint"] = {"path": "model.pt", "sha256": sha256_bytes(buf.getvalue())}
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
    from pydicom.uid import UID

    return UID(uid).name if uid and uid != "None" else uid


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
    ap.add_argument("--work", type=Path, default=None, help="reuse/keep this folder")
    args = ap.parse_args()
    filter_lightning_warnings()

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
    spec_path = _spec(args.model, work)
    spec = load_spec(spec_path)
    frame = pd.read_csv(manifest)
    paths = [str(manifest.parent / p) for p in frame["path"]]

    # --- decode rate of one worker (one process, one thread)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
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
    module.load_network_state(torch.load(work / "model.pt", weights_only=True), source="bench")
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

    # --- the full pipeline, end to end
    out = work / "scores.parquet"
    out.unlink(missing_ok=True)
    devices: int | str = int(args.devices) if str(args.devices).isdigit() else args.devices
    t = time.perf_counter()
    res = predict_scores(
        spec_path,
        manifest=manifest,
        out=out,
        devices=devices,
        accelerator=args.accelerator,
        precision=args.precision,
        batch_size=bs,
        num_workers=args.workers,
        progress=False,
    )
    wall = time.perf_counter() - t
    pipe_rate = res.n_scored / wall
    device = res.metadata["device"]

    print()
    print(
        f"radval predict benchmark: {args.n} DICOMs {args.size}x{args.size}, model "
        f"{spec.network.name} @ {spec.input.size[0]}x{spec.input.size[1]}, batch {bs}, "
        f"{args.workers} workers, device {device['accelerator']} ({device['name']}), "
        f"precision {device['precision']}, torch threads {threads}"
    )
    print()
    print("| measure | images/s | ratio to bare forward |")
    print("|---|---:|---:|")
    print(
        f"| read_dicom only, 1 worker (1 thread) | {decode_rate:,.1f} | "
        f"{decode_rate / bare_rate:.2f} |"
    )
    print(
        f"| read_dicom + MONAI preprocessing, 1 worker | {prep_rate:,.1f} | "
        f"{prep_rate / bare_rate:.2f} |"
    )
    print(f"| bare torch forward, pre-decoded tensors | {bare_rate:,.1f} | 1.00 |")
    print(
        f"| radval predict end to end ({args.workers} workers, incl. start-up) | "
        f"{pipe_rate:,.1f} | {pipe_rate / bare_rate:.2f} |"
    )
    print()
    print("| transfer syntax | files in sample | decode ms/image (1 thread) |")
    print("|---|---:|---:|")
    for name, times in sorted(per_syntax.items(), key=lambda kv: -np.mean(kv[1])):
        print(f"| {_syntax_name(name)} | {len(times)} | {1000 * np.mean(times):.1f} |")
    print()
    print(
        f"pipeline wall {wall:.1f} s for {res.n_scored} images; failures {len(res.failures)}; "
        f"work folder {work}"
    )


if __name__ == "__main__":
    main()
