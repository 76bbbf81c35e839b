"""The built-in demo: the whole radval path on synthetic data, in one command.

``radval demo --out DIR`` lays out a study folder the way a real validation would:

```text
DIR/data/train/      synthetic training set (its own patients: no leakage)
DIR/data/test/       the locked test set: DICOM, manifest.csv, lesions.csv, masks/
DIR/model/           candidate model: checkpoint, sha256, resolved spec, model card
DIR/baseline/        the "released" model the candidate is gated against
DIR/scores/          candidate.parquet and baseline.parquet (case_id, score)
DIR/readings/        simulated MRMC reader study (unaided, aided, and the AI)
DIR/protocols/       the repo's example protocols, locked before the run
DIR/studies/<id>/    results.json, report.html, audit.jsonl per protocol
```

It composes the library only (data, modeling, reader simulation, protocol lock,
study runner); nothing here computes a statistic.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from validation.errors import InputError
from validation.tables import write_csv

#: Sizes chosen so that the whole demo runs in about a minute on two quiet CPU cores.
TRAIN_CASES = 600
TEST_CASES = 400
IMAGE_SIZE = 128
TRAIN_SEED = 11
TEST_SEED = 22
CANDIDATE_EPOCHS = 10
BASELINE_EPOCHS = 6
READERS = 5
PROTOCOLS = ("triage_standalone", "reader_study", "release_gate")


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo wrote: the folder, each study's exit code and its files."""

    root: Path
    studies: dict[str, Path]
    exit_codes: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every study's primary criteria held, else the first non-zero code."""
        return next((c for c in self.exit_codes.values() if c != 0), 0)


def _repo_file(*parts: str) -> Path:
    """Find a shipped file (model spec or protocol) in the source tree."""
    root = Path(__file__).resolve().parent.parent
    candidate = root.joinpath(*parts)
    if candidate.exists():
        return candidate
    packaged = resources.files("validation").joinpath("_shipped", *parts)
    with resources.as_file(packaged) as path:
        if Path(path).exists():
            return Path(path)
    raise InputError(f"{'/'.join(parts)}: shipped file not found next to the package")


def run_demo(
    out_dir: str | Path,
    *,
    force: bool = False,
    echo: Callable[[str], None] = print,
    train_cases: int = TRAIN_CASES,
    test_cases: int = TEST_CASES,
    image_size: int = IMAGE_SIZE,
    candidate_epochs: int = CANDIDATE_EPOCHS,
    baseline_epochs: int = BASELINE_EPOCHS,
    render: bool = True,
) -> DemoOutcome:
    """Generate the synthetic data, train, score, simulate readers, lock and run the studies.

    Parameters
    ----------
    out_dir : path
        The demo folder; it must be empty or absent unless ``force``.
    force : bool
        Delete an existing demo folder first (only one that holds a previous demo).
    echo : callable
        Where progress lines go.
    train_cases, test_cases, image_size, candidate_epochs, baseline_epochs
        Sizes (the defaults fit the README's promise of a few minutes on 2 cores).
    render : bool
        Render each study's HTML report.

    Returns
    -------
    DemoOutcome
    """
    from validation.data.reader_simulation import simulate_reader_study
    from validation.data.synthetic import generate_synthetic_dataset
    from validation.modeling.predict import predict_scores
    from validation.modeling.train import train_model
    from validation.protocol.lock import lock_protocol
    from validation.study import run_study

    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        if not force:
            raise InputError(
                f"{root}: the demo folder already exists and is not empty; "
                "choose another --out or pass --force to replace it"
            )
        if not (root / "protocols").is_dir() or not (root / "data").is_dir():
            raise InputError(
                f"{root}: --force only replaces a previous demo folder, and this one does not "
                "look like one (no data/ and protocols/); refusing to delete it"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    def step(name: str) -> Callable[[], None]:
        start = time.perf_counter()
        echo(f"[radval demo] {name} ...")

        def done() -> None:
            seconds[name] = round(time.perf_counter() - start, 1)
            echo(f"[radval demo] {name}: {seconds[name]} s")

        return done

    done = step("synthetic training and test sets")
    train = generate_synthetic_dataset(root / "data" / "train", n_cases=train_cases,
                                       seed=TRAIN_SEED, image_size=image_size, id_prefix="R")
    test = generate_synthetic_dataset(root / "data" / "test", n_cases=test_cases,
                                      seed=TEST_SEED, image_size=image_size, id_prefix="T")
    done()

    spec = _repo_file("models", "demo_classifier.yaml")
    done = step(f"train the candidate model ({candidate_epochs} epochs)")
    candidate = train_model(spec, manifest=train.manifest_path, out_dir=root / "model",
                            test_manifest=test.manifest_path, max_epochs=candidate_epochs,
                            seed=1)
    done()
    done = step(f"train the released baseline model ({baseline_epochs} epochs)")
    baseline = train_model(spec, manifest=train.manifest_path, out_dir=root / "baseline",
                           test_manifest=test.manifest_path, max_epochs=baseline_epochs,
                           seed=2)
    done()

    # Protocols are locked before any score on the test set exists (R2).
    protocols = root / "protocols"
    protocols.mkdir()
    for name in PROTOCOLS:
        shutil.copyfile(_repo_file("protocols", f"{name}.yaml"), protocols / f"{name}.yaml")
    done = step("lock the protocols (before any test-set score exists)")
    for name in PROTOCOLS:
        lock_protocol(protocols / f"{name}.yaml", actor="radval-demo")
    done()

    done = step("score the test set with both models")
    scores = root / "scores"
    cand = predict_scores(candidate.spec_path, checkpoint=candidate.checkpoint_path,
                          manifest=test.manifest_path, out=scores / "candidate.parquet",
                          accelerator="cpu", num_workers=0, progress=False,
                          expected_sha256=candidate.checkpoint_sha256)
    predict_scores(baseline.spec_path, checkpoint=baseline.checkpoint_path,
                   manifest=test.manifest_path, out=scores / "baseline.parquet",
                   accelerator="cpu", num_workers=0, progress=False,
                   expected_sha256=baseline.checkpoint_sha256)
    done()

    done = step(f"simulate a {READERS}-reader MRMC study (unaided and AI-aided)")
    manifest = pd.read_csv(test.manifest_path, dtype={"case_id": str})
    ai = pd.read_parquet(cand.scores_path).set_index("case_id")["score"]
    truth = manifest.set_index("case_id")["label"].astype(int)
    ai = ai.reindex(truth.index)
    readings = simulate_reader_study(truth, ai.to_numpy(dtype=float), n_readers=READERS,
                                     rng=np.random.default_rng(7), aided_weight=0.5)
    ai_rows = pd.DataFrame({"reader": "AI", "modality": "standalone", "case": truth.index,
                            "truth": truth.to_numpy(), "score": ai.to_numpy(dtype=float)})
    (root / "readings").mkdir()
    write_csv(pd.concat([readings, ai_rows], ignore_index=True), root / "readings" / "readings.csv")
    done()

    studies: dict[str, Path] = {}
    codes: dict[str, int] = {}
    for name in PROTOCOLS:
        done = step(f"run the locked protocol {name}")
        outcome = run_study(protocols / f"{name}.yaml", out_dir=root / "studies" / name,
                            render=render, actor="radval-demo")
        done()
        studies[name] = Path(outcome.study_dir)
        codes[name] = int(outcome.exit_code)
    return DemoOutcome(root=root, studies=studies, exit_codes=codes, seconds=seconds)
