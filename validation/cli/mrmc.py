"""`radval mrmc`: multi-reader multi-case analysis of a readings file.

A thin wrapper over :func:`validation.data.readings.load_readings`,
:func:`validation.stats.mrmc.mrmc_analysis` and
:func:`validation.stats.mrmc.reader_vs_ai`. Bad input exits with code 2 and one line.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from validation.cli._common import finite
from validation.errors import InputError, ReadingsError, UndefinedMetricError


class ReadingsFormat(StrEnum):
    """``--format``: the readings file formats of ``validation.data.readings.FORMATS``."""

    csv = "csv"
    ordbm = "ordbm"
    imrmc = "imrmc"
    lrc = "lrc"
    jafroc = "jafroc"


class Fom(StrEnum):
    """``--fom``: the ROC figures of merit of ``stats.mrmc`` and the FROC ones of ``stats.detection``."""

    auc = "auc"
    sensitivity = "sensitivity"
    specificity = "specificity"
    wafroc = "wafroc"
    afroc = "afroc"
    wafroc1 = "wafroc1"
    afroc1 = "afroc1"
    hr_auc = "hr_auc"


class Method(StrEnum):
    """``--method``: Obuchowski-Rockette or Dorfman-Berbaum-Metz."""

    or_ = "or"
    dbm = "dbm"


class Covariance(StrEnum):
    """``--covariance``: how the OR covariances are estimated (``stats.mrmc``)."""

    jackknife = "jackknife"
    delong = "delong"
    unbiased = "unbiased"
    bootstrap = "bootstrap"


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if math.isinf(x):
            return "inf"
        if abs(x) < 1e-3 and x != 0:
            return f"{x:.3g}"
        return f"{x:.{digits}f}"
    return str(x)


def _p(x: float | None) -> str:
    if x is None:
        return "-"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}"


def mrmc(
    readings: Annotated[Path, typer.Argument(help="Readings file (.csv, .imrmc, .lrc, .xlsx).")],
    format: Annotated[
        ReadingsFormat | None,
        typer.Option("--format", help="File format (default: from the extension)."),
    ] = None,
    fom: Annotated[Fom, typer.Option("--fom", help="Figure of merit.")] = Fom.auc,
    method: Annotated[Method, typer.Option("--method", help="OR or DBM analysis.")] = Method.or_,
    covariance: Annotated[
        Covariance, typer.Option("--covariance", help="OR covariance estimator.")
    ] = Covariance.jackknife,
    ai_reader: Annotated[
        str | None,
        typer.Option(
            "--ai-reader", help="Reader ID of a standalone AI: compare it with the readers."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="Decision threshold for sensitivity / specificity.", callback=finite
        ),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="FROC truth CSV (default <name>_truth.csv).")
    ] = None,
    modality: Annotated[
        list[str] | None,
        typer.Option(
            "--modality",
            help="Analyse only these modalities (repeat the option); with "
            "--ai-reader, the one modality to compare the AI in.",
        ),
    ] = None,
    confidence_level: Annotated[float, typer.Option("--confidence-level", callback=finite)] = 0.95,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for bootstrap.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Obuchowski-Rockette / DBM analysis of a reader study (or AI vs readers)."""
    from validation.data.readings import load_froc_readings, load_readings, select_modalities
    from validation.stats.detection import FROC_FOMS
    from validation.stats.mrmc import mrmc_analysis, reader_vs_ai

    fom_name, how, cov = fom.value, method.value, covariance.value
    try:
        if fom_name in FROC_FOMS:
            marks, truth_table = load_froc_readings(readings, truth)
            result: Any
            if ai_reader is not None:
                result = reader_vs_ai(
                    marks,
                    ai_reader=ai_reader,
                    fom=fom_name,
                    truth=truth_table,
                    confidence_level=confidence_level,
                )
            else:
                result = mrmc_analysis(
                    marks,
                    fom=fom_name,
                    truth=truth_table,
                    method=how,
                    covariance=cov,
                    confidence_level=confidence_level,
                )
        else:
            frame = load_readings(readings, format=format.value if format else None)
            if modality:
                frame = select_modalities(frame, modality, ai_reader=ai_reader)
            if ai_reader is not None:
                result = reader_vs_ai(
                    frame,
                    ai_reader=ai_reader,
                    fom=fom_name,
                    confidence_level=confidence_level,
                    threshold=threshold,
                )
            else:
                result = mrmc_analysis(
                    frame,
                    fom=fom_name,
                    method=how,
                    covariance=cov,
                    confidence_level=confidence_level,
                    threshold=threshold,
                    rng=seed,
                )
    except InputError as exc:
        if str(readings) in str(exc):
            raise
        # raised by the statistics on the loaded frame: say which file it is about
        raise ReadingsError(f"{readings}: {str(exc).splitlines()[0]}") from exc
    except (ValueError, UndefinedMetricError) as exc:
        raise ReadingsError(f"{readings}: {str(exc).splitlines()[0]}") from exc

    if as_json:
        if isinstance(result, dict):
            payload = {k: v.to_dict() for k, v in result.items()}
        else:
            payload = result.to_dict()
        typer.echo(json.dumps(payload, indent=2, allow_nan=False))
        return
    if isinstance(result, dict):
        _print_ai(result, readings)
    else:
        _print_mrmc(result, readings)


def _print_ai(result: dict[str, Any], path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    first = result["RRRC"]
    table = Table(title=f"{path.name}: readers vs standalone AI ({first.extra['fom']})")
    for col in ("analysis", "readers", "AI", "difference", "CI", "t", "df", "p"):
        table.add_column(col)
    for name, c in result.items():
        table.add_row(
            f"1T-{name}",
            _fmt(c.estimate_a),
            _fmt(c.estimate_b),
            _fmt(c.difference),
            f"[{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]",
            _fmt(c.statistic, 3),
            _fmt(c.df, 2),
            _p(c.p_value),
        )
    Console().print(table)


def _print_mrmc(res: Any, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    level = f"{100 * res.confidence_level:g}%"
    console.print(
        f"[bold]{path.name}[/bold]: {res.method.upper()} ({res.covariance}), FOM {res.fom_name}, "
        f"design {res.design}, {len(res.modalities)} modalities x {len(res.readers)} readers "
        f"x {res.n_cases} cases"
    )
    t = Table(title=f"Reader-averaged FOM per modality (random readers and cases, {level} CI)")
    for col in ("modality", "FOM", "SE", "df", "CI"):
        t.add_column(col)
    for e in res.modality_foms:
        t.add_row(
            str(e.extra["modality"]),
            _fmt(e.estimate),
            _fmt(e.se),
            _fmt(e.extra["df"], 2),
            f"[{_fmt(e.ci_low)}, {_fmt(e.ci_high)}]",
        )
    console.print(t)
    for name, label in (
        ("RRRC", "random readers, random cases"),
        ("FRRC", "fixed readers, random cases"),
        ("RRFC", "random readers, fixed cases"),
    ):
        test = res.tests[name]
        stat = "X2" if test["distribution"] == "chi-square" else "F"
        if not test.get("estimable", True):
            console.print(f"[bold]{name}[/bold] ({label}): {test['reason']}")
            continue
        tt = Table(
            title=(
                f"{name} ({label}): {stat} = {_fmt(test['statistic'], 3)}, df = "
                f"({_fmt(test['df_num'], 0)}, {_fmt(test['df_den'], 2)}), p = {_p(test['p_value'])}"
            )
        )
        for col in ("difference", "estimate", f"{level} CI", "statistic", "df", "p"):
            tt.add_column(col)
        for c in test["comparisons"]:
            tt.add_row(
                f"{c.modality_a} - {c.modality_b}",
                _fmt(c.difference),
                f"[{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]",
                _fmt(c.statistic, 3),
                _fmt(c.df, 2),
                _p(c.p_value),
            )
        console.print(tt)
    vc = Table(title="Variance components")
    vc.add_column("component")
    vc.add_column("estimate")
    for k, v in res.variance_components.items():
        vc.add_row(k, _fmt(v, 6))
    console.print(vc)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("mrmc", help="Analyse a reader study: OR/DBM MRMC, or AI vs readers.")(mrmc)
