"""The built-in demo: the whole radval path on synthetic data, in one command.

``radval demo --out DIR`` lays out a study folder the way a real validation would:

```text
DIR/data/train/      synthetic training set (its own patients: no leakage)
DIR/data/test/       the locked test set: DICOM, manifest.csv, lesions.csv, masks/,
                     truthing.csv (two radiologists and an adjudicator)
DIR/model/           candidate model: checkpoint, sha256, resolved spec, model card
DIR/baseline/        the "released" model the candidate is gated against
DIR/scores/          candidate.parquet and baseline.parquet (case_id, score)
DIR/readings/        simulated MRMC reader study (unaided, aided, and the AI)
DIR/measurements/    nodule areas from a simulated measuring device
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
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from validation.data.reader_simulation import simulate_reader_study
from validation.data.synthetic import generate_synthetic_dataset
from validation.errors import InputError
from validation.protocol.lock import lock_protocol
from validation.study import run_study
from validation.study.tables import load_mask
from validation.tables import write_csv

if TYPE_CHECKING:  # torch is imported only when the demo trains
    from validation.modeling.train import TrainResult

#: Sizes chosen so that every primary criterion of every study holds with a clear margin
#: whatever CPU kernels train the models (models/README.md gives the measurements), and the
#: whole demo runs in about a minute on two quiet CPU cores.
TRAIN_CASES = 2000
TRAIN_PREVALENCE = 0.5
TEST_CASES = 600
IMAGE_SIZE = 128
TRAIN_SEED = 11
TEST_SEED = 22
CANDIDATE_SEED = 1
BASELINE_SEED = 2
READERS = 5
TRUTHING_SEED = 33
PROTOCOLS = ("triage_standalone", "reader_study", "release_gate", "nodule_measurement")
CANDIDATE_SPEC = "demo_classifier.yaml"
BASELINE_SPEC = "demo_classifier_released.yaml"

#: The exit code each study is meant to end with (0: every primary criterion holds; 1: a
#: gate fails on purpose, which the summary then says). Today every study is meant to pass.
EXPECTED_EXIT_CODES: dict[str, int] = {name: 0 for name in PROTOCOLS}


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo wrote: the folder, each study's exit code and its files."""

    root: Path
    studies: dict[str, Path]
    exit_codes: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=lambda: dict(EXPECTED_EXIT_CODES))

    def as_intended(self, name: str) -> bool:
        """Whether a study ended as the demo means it to (pass, or a planned failing gate)."""
        return self.exit_codes[name] == self.expected.get(name, 0)

    @property
    def exit_code(self) -> int:
        """0 when every study came out as intended (see :data:`EXPECTED_EXIT_CODES`), else 1."""
        return 0 if all(self.as_intended(n) for n in self.exit_codes) else 1

    def summary(self) -> list[str]:
        """One block per study: its verdict, whether that was intended, its primary criteria."""
        lines: list[str] = []
        for name, folder in self.studies.items():
            code, planned = self.exit_codes[name], self.expected.get(name, 0)
            verdict = "all primary criteria met" if code == 0 else "a primary criterion failed"
            if code == planned:
                note = (
                    "as intended" if code == 0 else "as intended: this study shows a failing gate"
                )
            else:
                note = "NOT as intended: the demo means this study to " + (
                    "pass" if planned == 0 else "fail"
                )
            report = folder / "report.html"
            where = report if report.exists() else folder / "results.json"
            lines.append(f"  {name:<18} {verdict} ({note})")
            lines += [f"      {line}" for line in _primary_lines(folder / "results.json")]
            lines.append(f"      {where.resolve()}")
        return lines


def _primary_lines(results: Path) -> list[str]:
    """The primary criteria of a study as one line each (from its results.json)."""
    import json

    doc = json.loads(results.read_text(encoding="utf-8"))
    endpoints = {e["id"]: e for e in doc.get("endpoints") or []}
    comparisons = {c["id"]: c for c in doc.get("comparisons") or []}
    out = []
    for p in (doc.get("verdict") or {}).get("primary") or []:
        eid = p.get("endpoint_id")
        ep, cmp = endpoints.get(eid) or {}, comparisons.get(eid)
        if cmp is not None:
            value = (
                f"difference {cmp['difference']:+.3f} "
                f"(CI {cmp['ci_low']:+.3f} to {cmp['ci_high']:+.3f}), margin {cmp['margin']}"
            )
        elif ep.get("estimate") is not None:
            lo, hi = ep["ci_low"], ep["ci_high"]
            sep = " to " if min(lo, hi) < 0 else "-"  # "-74.288 (CI -86.052 to -64.513)"
            value = f"{ep['estimate']:.3f} (CI {lo:.3f}{sep}{hi:.3f})"
        else:
            value = "not estimable"
        crit = (ep.get("criterion") or {}).get("text") or ""
        out.append(f"{p.get('decision', '?'):<5} {eid}: {value}" + (f"; {crit}" if crit else ""))
    return out


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
    candidate_epochs: int | None = None,
    baseline_epochs: int | None = None,
    candidate_seed: int = CANDIDATE_SEED,
    baseline_seed: int = BASELINE_SEED,
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
    train_cases, test_cases, image_size
        Sizes (the defaults give every study a clear margin; smaller ones are for tests).
    candidate_epochs, baseline_epochs
        Override the epochs of the two model specs (default: the specs').
    candidate_seed, baseline_seed
        Training seeds of the two models.
    render : bool
        Render each study's HTML report.

    Returns
    -------
    DemoOutcome
    """
    from validation.modeling.train import train_model

    root = _fresh_folder(Path(out_dir), force=force)
    seconds: dict[str, float] = {}

    def step(name: str) -> Callable[[], None]:
        start = time.perf_counter()
        echo(f"[radval demo] {name} ...")

        def done() -> None:
            seconds[name] = round(time.perf_counter() - start, 1)
            echo(f"[radval demo] {name}: {seconds[name]} s")

        return done

    done = step("synthetic training and test sets")
    # The training set is enriched (half positive), as training data usually is; the test
    # set keeps a screening-like prevalence.
    train = generate_synthetic_dataset(
        root / "data" / "train",
        n_cases=train_cases,
        seed=TRAIN_SEED,
        image_size=image_size,
        id_prefix="R",
        prevalence=TRAIN_PREVALENCE,
    )
    test = generate_synthetic_dataset(
        root / "data" / "test",
        n_cases=test_cases,
        seed=TEST_SEED,
        image_size=image_size,
        id_prefix="T",
    )
    _truthing_and_areas(test.manifest_path, root)
    done()

    trained = {}
    for role, spec_name, folder, epochs, seed in (
        ("candidate", CANDIDATE_SPEC, "model", candidate_epochs, candidate_seed),
        ("released baseline", BASELINE_SPEC, "baseline", baseline_epochs, baseline_seed),
    ):
        spec = _repo_file("models", spec_name)
        done = step(
            f"train the {role} model ({spec_name}) and choose its operating point "
            "on its tuning split"
        )
        result = train_model(
            spec,
            manifest=train.manifest_path,
            out_dir=root / folder,
            test_manifest=test.manifest_path,
            max_epochs=epochs,
            seed=seed,
        )
        done()
        echo(f"[radval demo]   {_operating_line(result.operating_point)}")
        trained[role] = result
    candidate, baseline = trained["candidate"], trained["released baseline"]

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
    cand_scores = _score_test_set(root, candidate, baseline, test.manifest_path)
    done()

    done = step(f"simulate a {READERS}-reader MRMC study (unaided and AI-aided)")
    _simulate_readers(root, test.manifest_path, cand_scores)
    done()

    studies: dict[str, Path] = {}
    codes: dict[str, int] = {}
    for name in PROTOCOLS:
        done = step(f"run the locked protocol {name}")
        outcome = run_study(
            protocols / f"{name}.yaml",
            out_dir=root / "studies" / name,
            render=render,
            actor="radval-demo",
        )
        done()
        studies[name] = Path(outcome.study_dir)
        codes[name] = int(outcome.exit_code)
    return DemoOutcome(root=root, studies=studies, exit_codes=codes, seconds=seconds)


def _fresh_folder(root: Path, *, force: bool) -> Path:
    """``root`` created and empty; an existing non-empty folder only with ``force``."""
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
    return root


def _score_test_set(
    root: Path, candidate: TrainResult, baseline: TrainResult, test_manifest: Path
) -> Path:
    """Score the locked test set with both trained models; the candidate's scores file."""
    from validation.modeling.predict import predict_scores

    scores = root / "scores"
    out = {}
    for name, trained in (("candidate", candidate), ("baseline", baseline)):
        out[name] = predict_scores(
            trained.spec_path,
            checkpoint=trained.checkpoint_path,
            manifest=test_manifest,
            out=scores / f"{name}.parquet",
            accelerator="cpu",
            num_workers=0,
            progress=False,
            expected_sha256=trained.checkpoint_sha256,
        )
    return Path(out["candidate"].scores_path)


def _simulate_readers(root: Path, test_manifest: Path, cand_scores: Path) -> None:
    """A simulated MRMC study (unaided and AI-aided) plus the AI as a standalone reader."""
    manifest = pd.read_csv(test_manifest, dtype={"case_id": str})
    ai = pd.read_parquet(cand_scores).set_index("case_id")["score"]
    truth = manifest.set_index("case_id")["label"].astype(int)
    ai = ai.reindex(truth.index)
    readings = simulate_reader_study(
        truth,
        ai.to_numpy(dtype=float),
        n_readers=READERS,
        rng=np.random.default_rng(7),
        aided_weight=0.5,
    )
    ai_rows = pd.DataFrame(
        {
            "reader": "AI",
            "modality": "standalone",
            "case": truth.index,
            "truth": truth.to_numpy(),
            "score": ai.to_numpy(dtype=float),
        }
    )
    (root / "readings").mkdir()
    write_csv(pd.concat([readings, ai_rows], ignore_index=True), root / "readings" / "readings.csv")


def _truthing_and_areas(manifest_path: Path, root: Path) -> None:
    """The test set's truthing file, reference nodule areas and a simulated device's areas.

    Two radiologists read every case for a nodule; on about one case in ten exactly one of
    them misreads, and an adjudicator (who reads only those cases) settles it. The reference
    area of a positive case is the area of its reference nodule mask (``nodule_area_mm2``,
    added to the manifest before anything is locked or scored); the simulated device
    measures it with a bias of 10 mm² and an additive error (sd 40 mm²). Written before the
    protocols are locked.
    """
    # every column as the text it is, so that rewriting the manifest changes nothing else
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    labels = manifest["label"].astype(int).to_numpy()
    rng = np.random.default_rng(TRUTHING_SEED)
    names = {1: "nodule", 0: "no nodule"}
    reads = []
    for cid, lab in zip(manifest["case_id"], labels, strict=True):
        found = [int(lab), int(lab)]
        if rng.random() < 0.10:
            found[int(rng.integers(2))] = 1 - lab
        for who, f in zip(("radiologist_1", "radiologist_2"), found, strict=True):
            reads.append({"accession": cid, "radiologist": who, "finding": names[f]})
        if found[0] != found[1]:
            reads.append({"accession": cid, "radiologist": "adjudicator", "finding": names[lab]})
    write_csv(pd.DataFrame(reads), manifest_path.parent / "truthing.csv")
    areas = np.full(len(manifest), np.nan)
    for row, (lab, rel) in enumerate(zip(labels, manifest["mask_path"], strict=True)):
        if lab == 1:
            where = f"{manifest_path}, row {row + 1}"
            mask, zooms = load_mask(manifest_path.parent / rel, None, where)
            areas[row] = float(mask.astype(bool).sum() * np.prod(zooms)) or np.nan
    manifest["nodule_area_mm2"] = ["" if np.isnan(a) else f"{a:.2f}" for a in areas]
    write_csv(manifest, manifest_path)
    has = ~np.isnan(areas)
    measured = areas[has] + 10.0 + rng.normal(0.0, 40.0, size=int(has.sum()))
    (root / "measurements").mkdir()
    write_csv(
        pd.DataFrame({"case_id": manifest.loc[has, "case_id"], "area_mm2": measured.round(2)}),
        root / "measurements" / "nodule_area.csv",
    )


def _operating_line(op: dict[str, object]) -> str:
    """The chosen operating point in one line (from the model card's record)."""
    sel = op.get("selection")
    if not isinstance(sel, dict):
        return f"operating threshold {op['threshold']} ({op.get('source')})"
    at, ts = sel["at_threshold"], sel["tuning_split"]
    goal = f" >= {sel['target']}" if sel.get("target") is not None else ""
    return (
        f"threshold {float(str(op['threshold'])):.4f} by rule {sel['rule']}{goal} on "
        f"{ts['n_cases']} tuning cases: sensitivity {at['sensitivity']['estimate']:.3f}, "
        f"specificity {at['specificity']['estimate']:.3f} "
        f"(threshold sd {sel['threshold_bootstrap']['sd']:.4f})"
    )
