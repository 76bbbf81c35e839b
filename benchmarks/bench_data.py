"""Benchmark of the data layer against its peer, plain pydicom, in one run.

* reading: ``read_dicom`` (checks + Modality LUT + MONOCHROME1 + float32) against
  ``pydicom.dcmread(...).pixel_array`` + ``apply_modality_lut`` done by hand, per
  transfer syntax, on synthetic 256² images and the real 1955×1841 CR chest
  radiograph of pydicom-data;
* manifest building: ``build_manifest`` (header, sha256, pseudonym) against a bare
  ``dcmread(stop_before_pixels=True)`` + ``hashlib`` loop;
* synthetic generation throughput (images per second; no peer).

Run: ``.venv/bin/python benchmarks/bench_data.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import data_store
import pandas as pd
import pydicom
from pydicom.pixels import apply_modality_lut

from validation.data.dicom import read_dicom
from validation.data.manifest import build_manifest
from validation.data.synthetic import generate_synthetic_dataset


def _best(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _peer_read(path: Path) -> object:
    ds = pydicom.dcmread(path)
    return apply_modality_lut(ds.pixel_array, ds).astype("float32")


def _read_all(reader: Callable[[Path], object], paths: list[Path]) -> None:
    for path in paths:
        reader(path)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        synth = generate_synthetic_dataset(Path(tmp) / "s", n_cases=300, image_size=256, seed=0)
        gen = time.perf_counter() - start
        frame = pd.read_csv(synth.manifest_path)
        by_syntax: dict[str, list[Path]] = {}
        for rel in frame["path"]:
            path = synth.root / rel
            ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
            by_syntax.setdefault(ts.name, []).append(path)
        for name, paths in sorted(by_syntax.items()):
            paths = paths[:40]
            ours = _best(partial(_read_all, read_dicom, paths)) / len(paths)
            peer = _best(partial(_read_all, _peer_read, paths)) / len(paths)
            rows.append((f"read 256² {name}", ours * 1e3, peer * 1e3))
        corpus = Path(data_store.__file__).parent / "data"
        for name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm"):
            path = corpus / name
            ours = _best(partial(read_dicom, path))
            peer = _best(partial(_peer_read, path))
            rows.append((f"read CR 1955x1841 {name}", ours * 1e3, peer * 1e3))

        images = synth.root / "images"
        files = sorted(images.glob("*.dcm"))

        def bare() -> None:
            for f in files:
                pydicom.dcmread(f, stop_before_pixels=True)
                hashlib.sha256(f.read_bytes()).hexdigest()

        ours = _best(lambda: build_manifest(images, salt="bench"), repeats=2) / len(files)
        peer = _best(bare, repeats=2) / len(files)
        rows.append(("manifest build, per file", ours * 1e3, peer * 1e3))

    print(f"synthetic generation: 300 images at 256² in {gen:.1f} s ({300 / gen:.0f} images/s)")
    print()
    print(f"{'task':52s} {'radval ms':>10s} {'pydicom ms':>11s} {'ratio':>7s}")
    for task, ours_ms, peer_ms in rows:
        print(f"{task:52s} {ours_ms:10.2f} {peer_ms:11.2f} {ours_ms / peer_ms:7.2f}")


if __name__ == "__main__":
    main()
