"""MLflow logging of a study and a release gate, and promotion of a registered model version.

Where: the tracking URI comes from ``MLFLOW_TRACKING_URI`` only (any URI MLflow accepts:
``sqlite:///path/mlflow.db``, ``http://127.0.0.1:5000``, a Databricks workspace ...);
credentials only from the environment variables MLflow reads itself
(``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` ...). No URI,
token or password is ever written into an output, a message or the audit log: a URI is
shown as :func:`redact_uri` leaves it (scheme, host, port and path).

Which run: the run that produced the model, named by the model card's ``mlflow.run_id``
(``radval train --mlflow`` writes it into ``model_card.json``; the study copies the card
into ``results.json``) or by ``--mlflow-run-id``. Both given and different is an error.
Neither: a new run is created in the experiment ``$MLFLOW_EXPERIMENT_NAME`` (default
``radval``) and finished when the logging is done.

What (keys prefixed ``radval/<study id>/``):

* metrics: per primary and secondary endpoint ``estimate``, ``ci_low``, ``ci_high``,
  ``p_value``, ``p_adjusted`` and, when compared with a baseline, ``difference``;
* tags: ``verdict``, ``protocol_id``, ``protocol_version``, ``protocol_sha256``,
  ``results_sha256``, ``audit_head`` and each endpoint's ``decision``;
* artifacts under ``radval/<study id>/``: ``results.json``, ``report.html``,
  ``report.pdf``, ``audit.jsonl`` and ``audit.head``.

A release gate logs under ``radval/gate/``: per comparison ``difference``, ``ci_low``,
``ci_high``, ``p_value``; tags ``decision``, both results' sha256 and audit heads, the gate
record's sha256 and audit head; artifacts ``gate.json``, ``audit.jsonl``, ``audit.head``.

Never patient-level data: no per-case row and no case id is logged. ``results.json`` holds
per-case rows when a study had missing model outputs (``failures``) or a segmentation
analysis (``per_case``); it is then logged as ``results.aggregate.json``, with those rows
removed and counted under ``mlflow_redaction``, and the report (which lists them) is not
logged; the tag ``radval/<study id>/withheld`` says what was withheld and why.

Promotion (:func:`promote`): only a gate that passed sets a registered model version's
alias (and, while MLflow still supports stages, its stage), and the promotion is appended
to the gate folder's audit log; if that append fails the alias is set back.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from validation import __version__, audit
from validation.errors import PublishError
from validation.io import sha256_file, write_text_atomic

TRACKING_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "radval"
#: Environment variables whose values are secrets (MLflow's own credential variables).
SECRET_ENV = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "DATABRICKS_TOKEN",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
)
#: Keys of a record that mark it as one case's row (patient-level data).
CASE_KEYS = frozenset({"case_id", "case"})
_KEY_PART = re.compile(r"[^A-Za-z0-9_\-]")
_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")
_MODEL_NAME = re.compile(r"[^'\"\\\x00-\x1f]+")


def redact_uri(uri: str) -> str:
    """A tracking URI without user, password, query or fragment (``https://host:port/path``)."""
    parts = urlsplit(uri)
    if (
        not parts.netloc
    ):  # sqlite:////abs/path.db, file:///path: no host, nothing to hide but a query
        return uri.split("?", 1)[0].split("#", 1)[0]
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact(text: str, uri: str | None = None) -> str:
    """``text`` with the tracking URI redacted, ``user:password@`` removed, secrets masked."""
    if uri:
        text = text.replace(uri, redact_uri(uri))
    text = _USERINFO.sub("", text)
    for name in SECRET_ENV:
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return text


def _key(*parts: Any) -> str:
    """An MLflow metric or tag key: ``radval/<part>/<part>`` with other characters as ``_``."""
    return "/".join(["radval", *(_KEY_PART.sub("_", str(p)) for p in parts)])


@dataclass(frozen=True)
class Tracking:
    """An MLflow client bound to the tracking URI of the environment."""

    uri: str
    client: Any

    @property
    def shown(self) -> str:
        """The URI as it may be printed."""
        return redact_uri(self.uri)


def connect() -> Tracking:
    """An MLflow client for ``$MLFLOW_TRACKING_URI``.

    Raises
    ------
    PublishError
        The variable is unset, or MLflow is not installed.
    """
    uri = os.environ.get(TRACKING_ENV, "").strip()
    if not uri:
        raise PublishError(
            f"--mlflow needs the tracking URI in ${TRACKING_ENV} (e.g. sqlite:///mlflow.db or "
            "http://127.0.0.1:5000); credentials, if any, in MLFLOW_TRACKING_TOKEN or "
            "MLFLOW_TRACKING_USERNAME/PASSWORD"
        )
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise PublishError(
            "--mlflow needs MLflow: pip install 'radval[mlflow]' (mlflow-skinny, "
            "sqlalchemy and alembic for a sqlite:// store)"
        ) from None
    return Tracking(uri, MlflowClient(tracking_uri=uri, registry_uri=uri))


@contextmanager
def _mlflow_errors(t: Tracking, doing: str) -> Iterator[None]:
    """Turn MLflow's and the network's errors into one-line :class:`PublishError` (redacted)."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except PublishError:
        raise
    except (MlflowException, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:400]
        raise PublishError(redact(f"MLflow at {t.shown}: cannot {doing}: {first}", t.uri)) from None


def card_run_id(doc: Mapping[str, Any]) -> str | None:
    """The MLflow run id a results document's model card names (``mlflow.run_id``), if any."""
    card = (doc.get("model") or {}).get("model_card")
    block = card.get("mlflow") if isinstance(card, Mapping) else None
    rid = block.get("run_id") if isinstance(block, Mapping) else None
    return str(rid) if isinstance(rid, str) and rid.strip() else None


@dataclass
class RunRef:
    """The MLflow run radval logs to, and where its id came from."""

    run_id: str
    source: str  # "model card", "--mlflow-run-id" or "new run"
    experiment_id: str
    created: bool = False


def resolve_run(
    t: Tracking, doc: Mapping[str, Any], *, run_id: str | None, study_id: str
) -> RunRef:
    """The run to log to: the model card's, ``run_id``'s, or a new one.

    Raises
    ------
    PublishError
        ``run_id`` and the card's run differ; the run does not exist or was deleted.
    """
    card = card_run_id(doc)
    if run_id is not None and card is not None and run_id != card:
        raise PublishError(
            f"--mlflow-run-id {run_id} differs from the run the model card names ({card}); the "
            "card's run "
            "produced the model: drop --mlflow-run-id or fix the card"
        )
    rid = run_id or card
    if rid is not None:
        source = "--mlflow-run-id" if run_id is not None else "model card"
        with _mlflow_errors(t, f"find run {rid} (from the {source})"):
            run = t.client.get_run(rid)
        if run.info.lifecycle_stage != "active":
            raise PublishError(f"MLflow at {t.shown}: run {rid} (from the {source}) is deleted")
        return RunRef(rid, source, str(run.info.experiment_id))
    name = os.environ.get(EXPERIMENT_ENV, "").strip() or DEFAULT_EXPERIMENT
    with _mlflow_errors(t, f"create a run in experiment {name!r}"):
        exp = t.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else t.client.create_experiment(name)
        run = t.client.create_run(
            exp_id,
            run_name=f"radval {study_id}",
            tags={"radval/created_by": f"radval {__version__}"},
        )
    return RunRef(run.info.run_id, "new run", str(exp_id), created=True)


def strip_case_rows(doc: Any, path: str = "") -> tuple[Any, list[dict[str, Any]]]:
    """A copy of ``doc`` without per-case rows, and what was removed (``[{path, rows}]``).

    A per-case row is an object with a ``case_id`` or ``case`` key inside a list; each such
    list is emptied.
    """
    removed: list[dict[str, Any]] = []
    if isinstance(doc, Mapping):
        out = {}
        for k, v in doc.items():
            out[k], sub = strip_case_rows(v, f"{path}/{k}" if path else str(k))
            removed += sub
        return out, removed
    if isinstance(doc, list):
        rows = [x for x in doc if isinstance(x, Mapping) and CASE_KEYS & set(x)]
        if rows:
            removed.append({"path": path, "rows": len(rows)})
            return [x for x in doc if x not in rows], removed
        items = []
        for i, v in enumerate(doc):
            item, sub = strip_case_rows(v, f"{path}/{i}")
            items.append(item)
            removed += sub
        return items, removed
    return doc, removed


def _finite(x: Any) -> bool:
    return (
        isinstance(x, (int, float))
        and not isinstance(x, bool)
        and x == x
        and abs(x) != float("inf")
    )


def _log_batch(t: Tracking, run_id: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    ms = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
    ts = [RunTag(k, v) for k, v in tags.items()]
    for i in range(0, max(len(ms), 1), 1000):
        t.client.log_batch(run_id, metrics=ms[i : i + 1000])
    for i in range(0, len(ts), 100):
        t.client.log_batch(run_id, tags=ts[i : i + 100])


@dataclass
class MlflowLog:
    """What was logged where."""

    tracking_uri: str
    run: RunRef
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the terminal."""
        text = (
            f"mlflow: run {self.run.run_id} ({self.run.source}, experiment "
            f"{self.run.experiment_id}) at "
            f"{self.tracking_uri}: {len(self.metrics)} metric(s), {len(self.tags)} tag(s), "
            f"{len(self.artifacts)} artifact(s)"
        )
        if self.withheld:
            text += "; withheld: " + "; ".join(self.withheld)
        return text


def study_metrics(doc: Mapping[str, Any]) -> dict[str, float]:
    """``radval/<study>/<endpoint>/<field>`` metrics of the primary and secondary endpoints."""
    sid = (doc.get("study") or {}).get("id")
    out: dict[str, float] = {}
    for ep in doc.get("endpoints") or []:
        if ep.get("role") not in ("primary", "secondary"):
            continue
        for f in ("estimate", "ci_low", "ci_high", "p_value", "p_adjusted"):
            if _finite(ep.get(f)):
                out[_key(sid, ep.get("id"), f)] = float(ep[f])
        comp = (ep.get("details") or {}).get("comparison")
        if isinstance(comp, Mapping) and _finite(comp.get("difference")):
            out[_key(sid, ep.get("id"), "difference")] = float(comp["difference"])
    return out


def study_tags(
    doc: Mapping[str, Any], *, results_sha256: str, audit_head: str | None
) -> dict[str, str]:
    """The verdict, protocol and results hashes and each endpoint's decision, as tags."""
    study = doc.get("study") or {}
    sid = study.get("id")
    tags = {
        _key(sid, "verdict"): str((doc.get("verdict") or {}).get("decision", "")).upper(),
        _key(sid, "protocol_id"): str(sid),
        _key(sid, "protocol_version"): str(study.get("version")),
        _key(sid, "protocol_sha256"): str((doc.get("protocol") or {}).get("sha256")),
        _key(sid, "protocol_locked"): "true"
        if (doc.get("protocol") or {}).get("lock")
        else "false",
        _key(sid, "results_sha256"): results_sha256,
        _key(sid, "audit_head"): str(audit_head),
        _key(sid, "radval_version"): str(doc.get("radval_version")),
    }
    for ep in doc.get("endpoints") or []:
        if ep.get("role") in ("primary", "secondary"):
            tags[_key(sid, ep.get("id"), "decision")] = str(ep.get("decision"))
    return tags


def log_study(
    t: Tracking,
    doc: Mapping[str, Any],
    *,
    study_dir: Path,
    results_sha256: str,
    audit_head: str | None,
    run: RunRef,
) -> MlflowLog:
    """Log a study's endpoints, hashes, verdict and files to ``run`` (see the module docstring)."""
    sid = str((doc.get("study") or {}).get("id"))
    log = MlflowLog(
        t.shown,
        run,
        study_metrics(doc),
        study_tags(doc, results_sha256=results_sha256, audit_head=audit_head),
    )
    _, removed = strip_case_rows(doc)
    where = f"radval/{_KEY_PART.sub('_', sid)}"
    with tempfile.TemporaryDirectory(prefix="radval-mlflow-") as tmp:
        files: list[Path] = []
        if removed:
            clean, _ = strip_case_rows(doc)
            clean["mlflow_redaction"] = {
                "removed": removed,
                "source_sha256": results_sha256,
                "reason": "per-case rows (case ids) are patient-level data and are never logged to "
                "MLflow",
            }
            redacted = Path(tmp) / "results.aggregate.json"
            redacted.write_text(
                json.dumps(clean, indent=2, sort_keys=True, allow_nan=False) + "\n",
                encoding="utf-8",
            )
            files.append(redacted)
            rows = ", ".join(f"{r['rows']} at {r['path']}" for r in removed)
            log.withheld.append(
                f"per-case rows of results.json ({rows}): logged results.aggregate.json instead"
            )
            reports = [n for n in ("report.html", "report.pdf") if (study_dir / n).is_file()]
            if reports:
                log.withheld.append(f"{' and '.join(reports)} (they list per-case rows)")
            log.tags[_key(sid, "withheld")] = "; ".join(log.withheld)
        else:
            files.append(study_dir / "results.json")
            files += [
                study_dir / n for n in ("report.html", "report.pdf") if (study_dir / n).is_file()
            ]
        files += [
            study_dir / n for n in (audit.AUDIT_FILE, audit.HEAD_FILE) if (study_dir / n).is_file()
        ]
        with _mlflow_errors(t, f"log to run {run.run_id}"):
            _log_batch(t, run.run_id, log.metrics, log.tags)
            for f in files:
                t.client.log_artifact(run.run_id, str(f), artifact_path=where)
                log.artifacts.append(f"{where}/{f.name}")
    return log


def log_gate(
    t: Tracking,
    gate: Mapping[str, Any],
    *,
    gate_dir: Path | None,
    gate_sha256: str | None,
    gate_audit_head: str | None,
    run: RunRef,
) -> MlflowLog:
    """Log a release gate's decision, deltas, hashes and record to ``run``."""
    metrics: dict[str, float] = {}
    for c in gate.get("comparisons") or []:
        for name in ("difference", "ci_low", "ci_high", "p_value", "estimate_a", "estimate_b"):
            if _finite(c.get(name)):
                metrics[_key("gate", c.get("id"), name)] = float(c[name])
    cand, base = gate.get("candidate") or {}, gate.get("baseline") or {}
    regressions = [r for r in gate.get("subgroups") or [] if r.get("status") == "regression"]
    metrics[_key("gate", "subgroup_regressions")] = float(len(regressions))
    tags = {
        _key("gate", "decision"): str(gate.get("decision", "")).upper(),
        _key("gate", "candidate_study"): str(cand.get("study")),
        _key("gate", "candidate_results_sha256"): str(cand.get("results_sha256")),
        _key("gate", "candidate_audit_head"): str(cand.get("audit_head")),
        _key("gate", "baseline_study"): str(base.get("study")),
        _key("gate", "baseline_results_sha256"): str(base.get("results_sha256")),
        _key("gate", "baseline_audit_head"): str(base.get("audit_head")),
        _key("gate", "margin"): str(gate.get("margin")),
        _key("gate", "proportion_margin"): str(gate.get("proportion_margin")),
        _key("gate", "significance_level"): str(gate.get("significance_level")),
    }
    for c in gate.get("comparisons") or []:
        tags[_key("gate", c.get("id"), "decision")] = str(c.get("decision"))
    if gate_sha256 is not None:
        tags[_key("gate", "gate_sha256")] = gate_sha256
    if gate_audit_head is not None:
        tags[_key("gate", "audit_head")] = gate_audit_head
    log = MlflowLog(t.shown, run, metrics, tags)
    with tempfile.TemporaryDirectory(prefix="radval-mlflow-") as tmp:
        files: list[Path] = []
        if gate_dir is not None:
            files += [
                gate_dir / n
                for n in ("gate.json", audit.AUDIT_FILE, audit.HEAD_FILE)
                if (gate_dir / n).is_file()
            ]
        else:
            record = Path(tmp) / "gate.json"
            record.write_text(
                json.dumps(gate, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8"
            )
            files.append(record)
        with _mlflow_errors(t, f"log the gate to run {run.run_id}"):
            _log_batch(t, run.run_id, log.metrics, log.tags)
            for f in files:
                t.client.log_artifact(run.run_id, str(f), artifact_path="radval/gate")
                log.artifacts.append(f"radval/gate/{f.name}")
    return log


def finish(t: Tracking, run: RunRef, *, ok: bool) -> None:
    """End a run radval created (``FINISHED``, or ``FAILED`` when the logging failed)."""
    if run.created:
        # MLflow prints the run's URL on stdout here (from the tracking URI, which may hold
        # credentials): it is swallowed, radval prints its own redacted line
        with (
            _mlflow_errors(t, f"finish run {run.run_id}"),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            t.client.set_terminated(run.run_id, status="FINISHED" if ok else "FAILED")


def log_training(
    t: Tracking, *, card_path: Path, files: Sequence[Path], register_model: str | None = None
) -> MlflowLog:
    """Record a ``radval train`` output folder as a new MLflow run named in its model card.

    A run is created in ``$MLFLOW_EXPERIMENT_NAME`` (default ``radval``); the card's training
    settings become params, its metrics metrics, the checkpoint and spec hashes tags, and
    ``files`` (checkpoint, resolved spec, model card, metrics) artifacts under ``model/``. The
    card (``model_card.json``) gets ``mlflow: {run_id, experiment_id, tracking_uri,
    registered_model}`` (written atomically, before it is logged), so a study that names the
    card logs to this run. With ``register_model`` a version of that registered model is
    created from the run's ``model/`` folder. The training data summary holds counts only.
    """
    from mlflow.entities import Param

    card = json.loads(card_path.read_text(encoding="utf-8"))
    model, training = card.get("model") or {}, card.get("training") or {}
    params = {
        "model_name": model.get("name"),
        "model_version": model.get("version"),
        "task": model.get("task"),
        "network": model.get("network"),
        "seed": training.get("seed"),
        "epochs": training.get("epochs"),
        "batch_size": training.get("batch_size"),
        "optimizer": training.get("optimizer"),
        "learning_rate": training.get("learning_rate"),
        "weight_decay": training.get("weight_decay"),
        "training_data_sha256": (card.get("training_data") or {}).get("sha256"),
        "training_cases": (card.get("training_data") or {}).get("n_cases"),
        "threshold": (card.get("operating_point") or {}).get("threshold"),
    }
    metrics = {
        _key("train", k): float(v) for k, v in (card.get("metrics") or {}).items() if _finite(v)
    }
    tags = {
        _key("checkpoint_sha256"): str((card.get("checkpoint") or {}).get("sha256")),
        _key("spec_sha256"): str(card.get("spec_sha256")),
        "radval/created_by": f"radval {__version__}",
    }
    name = os.environ.get(EXPERIMENT_ENV, "").strip() or DEFAULT_EXPERIMENT
    if register_model is not None:
        Promotion(register_model).check()
    with _mlflow_errors(t, f"create a training run in experiment {name!r}"):
        exp = t.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else t.client.create_experiment(name)
        created = t.client.create_run(
            exp_id, run_name=f"radval train {model.get('name')} {model.get('version')}"
        )
    run = RunRef(created.info.run_id, "new run", str(exp_id), created=True)
    log = MlflowLog(t.shown, run, metrics, tags)
    ok = False
    try:
        card["mlflow"] = {
            "run_id": run.run_id,
            "experiment_id": run.experiment_id,
            "tracking_uri": t.shown,
            "registered_model": None,
        }
        with _mlflow_errors(t, f"log to run {run.run_id}"):
            t.client.log_batch(
                run.run_id, params=[Param(k, str(v)) for k, v in params.items() if v is not None]
            )
            _log_batch(t, run.run_id, log.metrics, log.tags)
            for f in [*(Path(f) for f in files if Path(f) != card_path), card_path]:
                if f == card_path:  # the card names the run only once everything else is logged
                    if register_model is not None:
                        card["mlflow"]["registered_model"] = _register(
                            t, register_model, run.run_id
                        )
                    write_text_atomic(card_path, json.dumps(card, indent=2, sort_keys=False) + "\n")
                t.client.log_artifact(run.run_id, str(f), artifact_path="model")
                log.artifacts.append(f"model/{f.name}")
        ok = True
    finally:
        finish(t, run, ok=ok)
    return log


def _register(t: Tracking, name: str, run_id: str) -> dict[str, str]:
    """Create a version of registered model ``name`` (created if missing) from ``model/``.

    ``model/`` is the run's artifact folder the version points at.
    """
    from mlflow.exceptions import MlflowException

    try:
        t.client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        t.client.create_registered_model(name)
    mv = t.client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    return {"name": name, "version": str(mv.version)}


@dataclass(frozen=True)
class Promotion:
    """A requested promotion of a registered model version (``radval gate --promote-model``)."""

    model: str
    version: str | None = None
    alias: str = "champion"
    stage: str | None = None

    def check(self) -> None:
        """Refuse names MLflow's search filter could not quote."""
        if not _MODEL_NAME.fullmatch(self.model):
            raise PublishError(
                f"--promote-model: expected a registered model name without quotes, "
                f"backslashes or control characters, found {self.model!r}"
            )
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", self.alias):
            raise PublishError(
                f"--promote-alias: expected letters, digits, '_' or '-', found {self.alias!r}"
            )
        if self.version is not None and not self.version.isdigit():
            raise PublishError(
                f"--promote-version: expected a version number, found {self.version!r}"
            )


def _version(t: Tracking, p: Promotion, run_id: str | None) -> Any:
    client = t.client
    if p.version is not None:
        with _mlflow_errors(t, f"find version {p.version} of registered model {p.model!r}"):
            mv = client.get_model_version(p.model, p.version)
        if run_id is not None and mv.run_id and mv.run_id != run_id:
            raise PublishError(
                f"version {p.version} of registered model {p.model!r} was produced by run "
                f"{mv.run_id}, not by "
                f"the candidate's run {run_id}: refusing to promote another model"
            )
        return mv
    if run_id is None:
        raise PublishError(
            "--promote-model needs --promote-version, or the candidate's MLflow run (its model "
            "card's mlflow.run_id or --mlflow-run-id) to find the version it produced"
        )
    with _mlflow_errors(t, f"search the versions of registered model {p.model!r}"):
        found = [
            mv for mv in client.search_model_versions(f"name='{p.model}'") if mv.run_id == run_id
        ]
    if len(found) != 1:
        what = (
            "no version"
            if not found
            else f"{len(found)} versions ({', '.join(m.version for m in found)})"
        )
        raise PublishError(
            f"registered model {p.model!r} has {what} produced by the candidate's run {run_id}; "
            "name one with "
            "--promote-version"
        )
    return found[0]


def _alias_holder(t: Tracking, p: Promotion) -> str | None:
    """The version the alias names now, or ``None`` when it is not set."""
    from mlflow.exceptions import MlflowException

    with _mlflow_errors(t, f"read alias {p.alias!r} of registered model {p.model!r}"):
        try:
            return str(t.client.get_model_version_by_alias(p.model, p.alias).version)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise


def promote(
    t: Tracking,
    p: Promotion,
    *,
    gate: Mapping[str, Any],
    gate_dir: Path,
    run_id: str | None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Promote the candidate's registered model version after a passed gate; audit it.

    Sets the alias ``p.alias`` (and the stage ``p.stage`` when given and MLflow still has
    stages) on the version, then appends a ``promote`` entry to the gate folder's audit log
    naming the gate record's sha256, the model, version, alias, stage, the version the alias
    left and the tracking URI (redacted). If the append fails, the alias (and stage) are set
    back and the error is raised.

    Returns
    -------
    dict
        The audit entry.

    Raises
    ------
    PublishError
        The gate did not pass; the version cannot be found or was produced by another run;
        stages are requested but this MLflow has none; MLflow refuses.
    """
    if gate.get("decision") != "pass":
        raise PublishError(
            f"the gate decided {str(gate.get('decision')).upper()}: a model version is "
            "promoted only after a PASS"
        )
    p.check()
    record = gate_dir / "gate.json"
    audit.require_intact(gate_dir, "record a promotion in")
    mv = _version(t, p, run_id)
    client = t.client
    stages = hasattr(client, "transition_model_version_stage")
    if p.stage is not None and not stages:
        raise PublishError(
            f"--promote-stage {p.stage}: this MLflow has no model registry stages; use the "
            "alias (--promote-alias)"
        )
    previous = _alias_holder(t, p)
    old_stage = getattr(mv, "current_stage", None)
    with _mlflow_errors(t, f"promote version {mv.version} of registered model {p.model!r}"):
        client.set_registered_model_alias(p.model, p.alias, mv.version)
        if p.stage is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                client.transition_model_version_stage(
                    p.model, mv.version, p.stage, archive_existing_versions=False
                )
    details = {
        "registered_model": p.model,
        "version": str(mv.version),
        "alias": p.alias,
        "previous_alias_version": None if previous is None else str(previous),
        "stage": p.stage,
        "previous_stage": old_stage if p.stage is not None else None,
        "run_id": mv.run_id or run_id,
        "tracking_uri": t.shown,
        "gate_decision": "pass",
    }
    try:
        return audit.append_entry(
            gate_dir,
            "promote",
            inputs={"gate.json": sha256_file(record)},
            details=details,
            actor=actor,
        )
    except Exception:
        with _mlflow_errors(t, f"undo the promotion of version {mv.version} of {p.model!r}"):
            if previous is None:
                client.delete_registered_model_alias(p.model, p.alias)
            else:
                client.set_registered_model_alias(p.model, p.alias, previous)
            if p.stage is not None and old_stage is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    client.transition_model_version_stage(
                        p.model, mv.version, old_stage, archive_existing_versions=False
                    )
        raise


def describe_promotion(entry: Mapping[str, Any]) -> str:
    """One line naming what a ``promote`` audit entry records."""
    d = entry["details"]
    stage = f", stage {d['stage']}" if d.get("stage") else ""
    prev = (
        f" (alias moved from version {d['previous_alias_version']})"
        if d.get("previous_alias_version")
        else ""
    )
    return (
        f"promoted: registered model {d['registered_model']} version {d['version']} -> alias "
        f"{d['alias']}{stage}{prev}; audit entry {entry['seq']} ({entry['hash']})"
    )
