"""Benchmark: the report's hand-built SVG charts vs matplotlib's SVG backend, and whole renders.

Workload: an empirical ROC curve of 100,000 cases (~100,000 distinct thresholds) with its
operating point, drawn as one inline SVG chart; then rendering a full report (HTML) and its
PDF from a results.json with that curve.

Peer: matplotlib (``Figure.savefig(format="svg")``) for the same curve, the obvious way to
make an SVG chart in Python. Measured: time and bytes; a report embeds every chart inline, so
bytes matter for the HTML and the PDF.

Run: ``.venv/bin/python benchmarks/bench_report.py [--n 100000] [--study DIR]``
(``--study`` renders an existing study folder's report as well).
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np


def roc_points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from validation.stats.roc import roc_curve

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    s = rng.normal(size=n) + 1.2 * y
    curve = roc_curve(y, s)
    return curve.fpr, curve.tpr


def ours(fpr: np.ndarray, tpr: np.ndarray) -> str:
    from validation.report import charts

    return str(
        charts.curve_chart(
            [charts.Series("Model", fpr.tolist(), tpr.tolist())],
            points=[charts.Point("op", 0.2, 0.7)],
            title="ROC",
            desc="ROC curve",
            xlabel="1 - specificity",
            ylabel="sensitivity",
        )
    )


def peer(fpr: np.ndarray, tpr: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.3, 3.6))
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, color="#0072B2", label="Model")
    ax.plot([0.2], [0.7], "D", color="#D55E00", label="op")
    ax.plot([0, 1], [0, 1], ls="--", color="#6b6b6b")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.legend()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue()


def best(fn, *args, repeat: int = 3) -> tuple[float, str]:  # noqa: ANN001
    times, out = [], ""
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--study", type=Path, default=None)
    args = parser.parse_args()
    fpr, tpr = roc_points(args.n)
    t_ours, svg_ours = best(ours, fpr, tpr)
    t_peer, svg_peer = best(peer, fpr, tpr)
    print(f"ROC chart, {args.n:,} cases, {len(fpr):,} curve points")
    print(f"{'':<28}{'seconds':>10}{'KiB':>10}")
    print(f"{'radval charts.curve_chart':<28}{t_ours:>10.3f}{len(svg_ours.encode()) / 1024:>10.1f}")
    print(f"{'matplotlib savefig(svg)':<28}{t_peer:>10.3f}{len(svg_peer.encode()) / 1024:>10.1f}")
    print(
        f"{'ratio peer/radval':<28}{t_peer / t_ours:>10.1f}{len(svg_peer) / len(svg_ours):>10.1f}"
    )
    if args.study is not None:
        from validation.report.render import pdf_document, render_html

        t = time.perf_counter()
        html = render_html(args.study)
        t_html = time.perf_counter() - t
        t = time.perf_counter()
        doc = pdf_document(html)
        pdf = doc.write_pdf()
        t_pdf = time.perf_counter() - t
        print(
            f"report {args.study}: HTML {t_html:.2f} s ({len(html.encode()) / 1024:.0f} KiB), "
            f"PDF {t_pdf:.2f} s ({len(doc.pages)} pages, {len(pdf) / 1024:.0f} KiB)"
        )


if __name__ == "__main__":
    main()
