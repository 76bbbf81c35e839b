"""Inline SVG charts for the report: ROC, FROC, forest, calibration, reader FOMs, STARD flow.

Hand-built SVG rather than matplotlib's SVG backend, because the report needs what
matplotlib does not give directly: deterministic bytes (no generated ids or dates, so
rendering the same results twice gives identical HTML), every colour and stroke as an
attribute on the element (WeasyPrint ignores CSS classes inside inline SVG), ``<title>``
and ``<desc>`` text alternatives, and every string escaped exactly once. The charts only
draw numbers already in ``results.json``; nothing here computes a statistic.

Colours are the Okabe-Ito colour-blind-safe palette (Okabe & Ito 2008, "Color Universal
Design"), and every series is also told apart by its dash pattern or marker shape and
named in a legend, so no chart relies on colour alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

#: Okabe-Ito palette (black first for the main series).
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
)
GREY = "#6b6b6b"
LIGHT = "#d9d9d9"
DASHES = ("", "6 3", "2 2", "8 3 2 3", "1 3")
FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
MAX_POINTS = 1500

__all__ = [
    "OKABE_ITO",
    "Series",
    "calibration_chart",
    "curve_chart",
    "flow_diagram",
    "forest_plot",
    "reader_fom_chart",
]


def _f(x: float) -> str:
    """A coordinate with two decimals and no trailing zeros (stable bytes)."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _num(value: object) -> float | None:
    """A finite float from a JSON number; None for null, strings ("inf") and bad values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if v == v and abs(v) != float("inf") else None


def _finite_xy(xs: Sequence[object], ys: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) pairs where both are finite numbers (JSON nulls and "inf" strings dropped)."""
    try:
        x = np.asarray(xs, dtype=float)
        y = np.asarray(ys, dtype=float)
    except (TypeError, ValueError):
        pairs = [
            (float(a), float(b))  # type: ignore[arg-type]
            for a, b in zip(xs, ys, strict=True)
            if _num(a) is not None and _num(b) is not None
        ]
        x = np.array([p[0] for p in pairs], dtype=float)
        y = np.array([p[1] for p in pairs], dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"a curve needs as many x as y values; found {x.size} and {y.size}")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop points that fall in the same 1/1000-of-the-axis cell as the point before (display only).

    Keeps the first and last point, so a step curve keeps its ends; with at most
    ``MAX_POINTS`` points nothing is dropped. Rendering only: the numbers in
    ``results.json`` are untouched.
    """
    if x.size <= MAX_POINTS:
        return x, y
    span_x = float(x.max() - x.min()) or 1.0
    cells = np.column_stack([np.round(x / span_x * 1000), np.round(y * 1000)])
    keep = np.ones(x.size, dtype=bool)
    keep[1:] = np.any(cells[1:] != cells[:-1], axis=1)
    keep[-1] = True
    return x[keep], y[keep]


class _Svg:
    """A tiny SVG writer: every text node and attribute value passes through ``escape``."""

    def __init__(self, width: int, height: int, title: str, desc: str) -> None:
        self.width, self.height = width, height
        self.title, self.desc = title, desc
        self.parts: list[str] = []

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        *,
        stroke: str = "#000000",
        width: float = 1.0,
        dash: str = "",
    ) -> None:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" stroke="{stroke}" '
            f'stroke-width="{_f(width)}"{d}/>'
        )

    def polyline(
        self, pts: Iterable[tuple[float, float]], *, stroke: str, width: float = 1.6, dash: str = ""
    ) -> None:
        coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{stroke}" stroke-width="{_f(width)}" '
            f'stroke-linejoin="round"{d}/>'
        )

    def polygon(
        self, pts: Iterable[tuple[float, float]], *, fill: str, opacity: float = 0.25
    ) -> None:
        coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in pts)
        self.parts.append(
            f'<polygon points="{coords}" fill="{fill}" fill-opacity="{_f(opacity)}" stroke="none"/>'
        )

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        fill: str = "#ffffff",
        stroke: str = "#000000",
        width: float = 1.0,
        rx: float = 0.0,
    ) -> None:
        self.parts.append(
            f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" rx="{_f(rx)}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{_f(width)}"/>'
        )

    def marker(
        self,
        x: float,
        y: float,
        shape: str,
        *,
        color: str,
        size: float = 4.5,
        label: str | None = None,
    ) -> None:
        tip = f"<title>{escape(label)}</title>" if label else ""
        if shape == "square":
            body = (
                f'<rect x="{_f(x - size)}" y="{_f(y - size)}" width="{_f(2 * size)}" '
                f'height="{_f(2 * size)}" fill="{color}" stroke="#000000" stroke-width="0.8">'
            )
            self.parts.append(body + tip + "</rect>")
        elif shape == "diamond":
            pts = f"{_f(x)},{_f(y - size - 1)} {_f(x + size + 1)},{_f(y)} {_f(x)},{_f(y + size + 1)} {_f(x - size - 1)},{_f(y)}"
            self.parts.append(
                f'<polygon points="{pts}" fill="{color}" stroke="#000000" stroke-width="0.8">{tip}</polygon>'
            )
        elif shape == "triangle":
            pts = f"{_f(x)},{_f(y - size - 1)} {_f(x + size + 1)},{_f(y + size)} {_f(x - size - 1)},{_f(y + size)}"
            self.parts.append(
                f'<polygon points="{pts}" fill="{color}" stroke="#000000" stroke-width="0.8">{tip}</polygon>'
            )
        else:
            self.parts.append(
                f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(size)}" fill="{color}" stroke="#000000" '
                f'stroke-width="0.8">{tip}</circle>'
            )

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        anchor: str = "start",
        size: float = 11,
        weight: str = "normal",
        fill: str = "#000000",
        rotate: bool = False,
        italic: bool = False,
    ) -> None:
        rot = f' transform="rotate(-90 {_f(x)} {_f(y)})"' if rotate else ""
        style = ' font-style="italic"' if italic else ""
        self.parts.append(
            f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" font-size="{_f(size)}" '
            f'font-weight="{weight}" fill="{fill}"{style}{rot}>{escape(content)}</text>'
        )

    def markup(self) -> Markup:
        w, h = self.width, _f(self.height)
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" font-family="{escape(FONT)}" font-size="11">'
            f"<title>{escape(self.title)}</title><desc>{escape(self.desc)}</desc>"
            f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff" stroke="none"/>'
        )
        return Markup(head + "".join(self.parts) + "</svg>")  # every piece escaped above


@dataclass(frozen=True)
class Series:
    """One curve: x and y values, a legend label, and an optional confidence band."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    band_x: Sequence[float] | None = None
    band_low: Sequence[float] | None = None
    band_high: Sequence[float] | None = None


@dataclass(frozen=True)
class Point:
    """A highlighted point (e.g. the locked operating point) with its legend label."""

    label: str
    x: float
    y: float


def _axes(
    svg: _Svg,
    x0: float,
    y0: float,
    w: float,
    h: float,
    *,
    xmax: float,
    ymax: float,
    xlabel: str,
    ylabel: str,
    xticks: Sequence[float],
    yticks: Sequence[float],
    fmt: str = "{:.1f}",
    yfmt: str = "{:.1f}",
) -> None:
    for t in xticks:
        px = x0 + w * t / xmax
        svg.line(px, y0, px, y0 - h, stroke="#eeeeee")
        svg.line(px, y0, px, y0 + 4, stroke="#000000")
        svg.text(px, y0 + 16, fmt.format(t), anchor="middle", size=10)
    for t in yticks:
        py = y0 - h * t / ymax
        svg.line(x0, py, x0 + w, py, stroke="#eeeeee")
        svg.line(x0 - 4, py, x0, py, stroke="#000000")
        svg.text(x0 - 7, py + 3.5, yfmt.format(t), anchor="end", size=10)
    svg.rect(x0, y0 - h, w, h, fill="none", stroke="#000000")
    svg.text(x0 + w / 2, y0 + 34, xlabel, anchor="middle")
    svg.text(x0 - 38, y0 - h / 2, ylabel, anchor="middle", rotate=True)


def _legend(svg: _Svg, x: float, y: float, items: Sequence[tuple[str, str, str, str]]) -> None:
    """Legend rows (label, colour, dash, kind) where kind is line, band or a marker shape."""
    for i, (label, color, dash, kind) in enumerate(items):
        yy = y + 16 * i
        if kind == "line":
            svg.line(x, yy, x + 22, yy, stroke=color, width=2, dash=dash)
        elif kind == "band":
            svg.rect(x, yy - 5, 22, 10, fill=color, stroke="none")
        else:
            svg.marker(x + 11, yy, kind, color=color, size=4)
        svg.text(x + 28, yy + 4, label, size=10)


def curve_chart(
    series: Sequence[Series],
    *,
    title: str,
    desc: str,
    xlabel: str,
    ylabel: str,
    xmax: float = 1.0,
    points: Sequence[Point] = (),
    diagonal: bool = True,
    width: int = 430,
    height: int = 360,
) -> Markup:
    """Line chart of curves on [0, xmax] x [0, 1] (ROC, FROC, reader-averaged ROC).

    Each series may carry a confidence band (drawn as a shaded polygon under the curve);
    ``points`` are drawn as markers (the locked operating point).
    """
    svg = _Svg(width, height, title, desc)
    x0, y0 = 52.0, height - 50.0
    w, h = width - 72.0, height - 74.0
    xmax = xmax if xmax > 0 else 1.0
    ticks = [xmax * i / 5 for i in range(6)]
    _axes(
        svg,
        x0,
        y0,
        w,
        h,
        xmax=xmax,
        ymax=1.0,
        xlabel=xlabel,
        ylabel=ylabel,
        xticks=ticks,
        yticks=[i / 5 for i in range(6)],
        fmt="{:.2f}" if xmax < 1 else "{:.1f}" if xmax <= 2 else "{:.0f}",
    )

    def px(x: float) -> float:
        return x0 + w * min(max(x, 0.0), xmax) / xmax

    def py(y: float) -> float:
        return y0 - h * min(max(y, 0.0), 1.0)

    if diagonal:
        svg.line(px(0), py(0), px(xmax), py(1.0 if xmax == 1.0 else 0.0), stroke=GREY, dash="3 3")
    legend: list[tuple[str, str, str, str]] = []
    colors = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY)
    for i, s in enumerate(series):
        color = colors[i % len(colors)]
        if s.band_x is not None and s.band_low is not None and s.band_high is not None:
            # the band is drawn only inside the plotted range (no extrapolation past xmax)
            rows = [
                (bx, lo, hi)
                for bx, lo, hi in zip(s.band_x, s.band_low, s.band_high, strict=True)
                if _num(bx) is not None
                and _num(lo) is not None
                and _num(hi) is not None
                and float(bx) <= xmax
            ]
            if rows:
                upper = [(px(bx), py(hi)) for bx, _, hi in rows]
                lower = [(px(bx), py(lo)) for bx, lo, _ in reversed(rows)]
                svg.polygon(upper + lower, fill=color, opacity=0.22)
                legend.append((f"{s.label}: pointwise CI band", color, "", "band"))
        xs, ys = _thin(*_finite_xy(s.x, s.y))
        svg.polyline(
            zip(map(px, xs.tolist()), map(py, ys.tolist()), strict=True),
            stroke=color,
            dash=DASHES[i % len(DASHES)],
            width=2,
        )
        legend.append((s.label, color, DASHES[i % len(DASHES)], "line"))
    for p in points:
        svg.marker(px(p.x), py(p.y), "diamond", color=VERMILLION, size=5, label=p.label)
        legend.append((p.label, VERMILLION, "", "diamond"))
    _legend(svg, x0 + w * 0.36, y0 - 16 * len(legend) - 4, legend)
    return svg.markup()


@dataclass(frozen=True)
class ForestRow:
    """One row of a forest plot; ``estimate`` None draws the row as not estimable."""

    label: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    text: str
    note: str = ""
    bold: bool = False


def forest_plot(
    rows: Sequence[ForestRow],
    *,
    title: str,
    desc: str,
    reference: float | None,
    reference_label: str,
    xlabel: str,
    lo: float = 0.0,
    hi: float = 1.0,
    width: int = 760,
) -> Markup:
    """Horizontal forest plot: one row per subgroup cell with its CI, text on the right.

    Not-estimable cells are drawn as rows with no interval and the words "not estimable"
    and their reason, so a reader cannot mistake them for a missing row.
    """
    row_h = 20
    top, bottom = 26, 44
    height = top + bottom + row_h * max(len(rows), 1)
    svg = _Svg(width, height, title, desc)
    label_w, text_w = 200.0, 270.0
    x0 = label_w
    w = width - label_w - text_w - 10
    span = hi - lo if hi > lo else 1.0

    def px(x: float) -> float:
        return x0 + w * (min(max(x, lo), hi) - lo) / span

    for i in range(6):
        t = lo + span * i / 5
        svg.line(px(t), top - 4, px(t), height - bottom + 4, stroke="#eeeeee")
        svg.text(px(t), height - bottom + 18, f"{t:.1f}", anchor="middle", size=10)
    svg.line(x0, height - bottom + 4, x0 + w, height - bottom + 4, stroke="#000000")
    svg.text(x0 + w / 2, height - 8, xlabel, anchor="middle")
    svg.text(x0 + w + 12, top - 10, "Estimate (CI)", weight="bold", size=10)
    if reference is not None:
        svg.line(
            px(reference), top - 4, px(reference), height - bottom + 4, stroke=GREY, dash="4 3"
        )
        svg.text(px(reference), top - 10, reference_label, anchor="middle", size=9, fill=GREY)
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        if i % 2 == 0:
            svg.rect(0, y - row_h / 2, width, row_h, fill="#f6f6f6", stroke="none")
        svg.text(6, y + 4, r.label, weight="bold" if r.bold else "normal", size=10.5)
        if r.estimate is None or r.ci_low is None or r.ci_high is None:
            svg.text(x0 + 6, y + 4, "not estimable", italic=True, fill=VERMILLION, size=10)
            svg.text(x0 + w + 12, y + 4, r.text, size=10, italic=True)
            continue
        svg.line(px(r.ci_low), y, px(r.ci_high), y, stroke="#000000", width=1.4)
        svg.line(px(r.ci_low), y - 4, px(r.ci_low), y + 4, stroke="#000000", width=1.2)
        svg.line(px(r.ci_high), y - 4, px(r.ci_high), y + 4, stroke="#000000", width=1.2)
        svg.marker(
            px(r.estimate),
            y,
            "diamond" if r.bold else "square",
            color=BLUE if not r.note else ORANGE,
            size=4,
            label=r.text,
        )
        svg.text(x0 + w + 12, y + 4, r.text + (f"  {r.note}" if r.note else ""), size=10)
    return svg.markup()


def calibration_chart(
    bins: Sequence[tuple[float, float, int]],
    *,
    smoothed: tuple[Sequence[float], Sequence[float]] | None,
    title: str,
    desc: str,
    width: int = 430,
    height: int = 360,
) -> Markup:
    """Reliability diagram: observed vs mean predicted per bin, ideal diagonal, smoothed curve."""
    svg = _Svg(width, height, title, desc)
    x0, y0 = 52.0, height - 50.0
    w, h = width - 72.0, height - 74.0
    _axes(
        svg,
        x0,
        y0,
        w,
        h,
        xmax=1.0,
        ymax=1.0,
        xlabel="Mean predicted probability",
        ylabel="Observed frequency",
        xticks=[i / 5 for i in range(6)],
        yticks=[i / 5 for i in range(6)],
    )

    def px(x: float) -> float:
        return x0 + w * min(max(x, 0.0), 1.0)

    def py(y: float) -> float:
        return y0 - h * min(max(y, 0.0), 1.0)

    svg.line(px(0), py(0), px(1), py(1), stroke=GREY, dash="3 3")
    legend: list[tuple[str, str, str, str]] = [("Ideal calibration", GREY, "3 3", "line")]
    if smoothed is not None:
        pts = [
            (x, y)
            for x, y in zip(smoothed[0], smoothed[1], strict=True)
            if _num(x) is not None and _num(y) is not None
        ]
        svg.polyline(((px(x), py(y)) for x, y in pts), stroke=ORANGE, width=2, dash="6 3")
        legend.append(("Smoothed (LOWESS)", ORANGE, "6 3", "line"))
    for mp, obs, n in bins:
        svg.marker(
            px(mp),
            py(obs),
            "circle",
            color=BLUE,
            size=4,
            label=f"predicted {mp:.3f}, observed {obs:.3f}, n={n}",
        )
    legend.append(("Bins (mean predicted, observed)", BLUE, "", "circle"))
    _legend(svg, x0 + 8, y0 - h + 14, legend)
    return svg.markup()


def reader_fom_chart(
    readers: Sequence[str],
    modalities: Sequence[str],
    values: dict[tuple[str, str], float],
    *,
    ai_value: float | None,
    ai_label: str,
    title: str,
    desc: str,
    fom_label: str,
    width: int = 640,
) -> Markup:
    """Dot plot of each reader's figure of merit per modality (and the AI as a line)."""
    row_h = 22
    top, bottom = 30, 46
    height = top + bottom + row_h * max(len(readers), 1)
    svg = _Svg(width, height, title, desc)
    x0 = 150.0
    w = width - x0 - 30
    known = [v for v in values.values()] + ([ai_value] if ai_value is not None else [])
    lo = min([0.5, *known]) if known else 0.5
    lo = max(0.0, (int(lo * 10)) / 10)

    def px(x: float) -> float:
        return x0 + w * (min(max(x, lo), 1.0) - lo) / (1.0 - lo if lo < 1.0 else 1.0)

    for i in range(6):
        t = lo + (1.0 - lo) * i / 5
        svg.line(px(t), top - 4, px(t), height - bottom + 4, stroke="#eeeeee")
        svg.text(px(t), height - bottom + 18, f"{t:.2f}", anchor="middle", size=10)
    svg.line(x0, height - bottom + 4, x0 + w, height - bottom + 4, stroke="#000000")
    svg.text(x0 + w / 2, height - 8, fom_label, anchor="middle")
    shapes = ("circle", "square", "triangle", "diamond")
    colors = (BLUE, ORANGE, GREEN, PURPLE)
    if ai_value is not None:
        svg.line(
            px(ai_value),
            top - 4,
            px(ai_value),
            height - bottom + 4,
            stroke=VERMILLION,
            dash="5 3",
            width=1.5,
        )
    for i, reader in enumerate(readers):
        y = top + row_h * i + row_h / 2
        if i % 2 == 0:
            svg.rect(0, y - row_h / 2, width, row_h, fill="#f6f6f6", stroke="none")
        svg.text(6, y + 4, reader, size=10.5)
        for j, mod in enumerate(modalities):
            v = values.get((reader, mod))
            if v is not None:
                svg.marker(
                    px(v),
                    y,
                    shapes[j % len(shapes)],
                    color=colors[j % len(colors)],
                    size=4.5,
                    label=f"{reader}, {mod}: {v:.3f}",
                )
    legend: list[tuple[str, str, str, str]] = [
        (m, colors[j % len(colors)], "", shapes[j % len(shapes)]) for j, m in enumerate(modalities)
    ]
    if ai_value is not None:
        legend.append((ai_label, VERMILLION, "5 3", "line"))
    for k, (label, color, dash, kind) in enumerate(legend):
        lx = x0 + 150 * k
        if kind == "line":
            svg.line(lx, 12, lx + 22, 12, stroke=color, width=2, dash=dash)
        else:
            svg.marker(lx + 11, 12, kind, color=color, size=4)
        svg.text(lx + 28, 16, label, size=10)
    return svg.markup()


@dataclass(frozen=True)
class FlowBox:
    """A box of the STARD flow diagram: lines of text (the first is bold)."""

    lines: tuple[str, ...]


def flow_diagram(
    *,
    assessed: FlowBox,
    excluded: FlowBox,
    analysed: FlowBox,
    missing: FlowBox,
    positives: FlowBox,
    negatives: FlowBox,
    pos_split: tuple[FlowBox, FlowBox] | None,
    neg_split: tuple[FlowBox, FlowBox] | None,
    title: str,
    desc: str,
    width: int = 720,
) -> Markup:
    """STARD 2015 participant flow diagram (item 19): assessed -> excluded -> analysed ->
    reference standard positive/negative -> index test positive/negative (TP, FN, FP, TN)."""
    svg = _Svg(width, 400, title, desc)
    cx = width / 2
    bottom = [0.0]

    def box(
        x: float, y: float, w: float, b: FlowBox, *, fill: str = "#ffffff"
    ) -> tuple[float, float, float, float]:
        h = 14.0 * len(b.lines) + 12
        bottom[0] = max(bottom[0], y + h)
        svg.rect(x, y, w, h, fill=fill, stroke="#000000", rx=3)
        for i, line in enumerate(b.lines):
            svg.text(
                x + w / 2,
                y + 17 + 14 * i,
                line,
                anchor="middle",
                weight="bold" if i == 0 else "normal",
                size=11 if i == 0 else 10,
            )
        return x, y, w, h

    def arrow(x1: float, y1: float, x2: float, y2: float) -> None:
        svg.line(x1, y1, x2, y2, stroke="#000000", width=1.2)
        if x1 == x2:
            tip = f"{_f(x2 - 4)},{_f(y2 - 7)} {_f(x2 + 4)},{_f(y2 - 7)} {_f(x2)},{_f(y2)}"
        else:
            tip = f"{_f(x2 - 7)},{_f(y2 - 4)} {_f(x2 - 7)},{_f(y2 + 4)} {_f(x2)},{_f(y2)}"
        svg.parts.append(f'<polygon points="{tip}" fill="#000000" stroke="none"/>')

    bw = 250.0
    _, ay, _, ah = box(cx - bw / 2, 10, bw, assessed)
    ex_x = cx + bw / 2 + 40
    _, ey, ew, eh = box(ex_x, ay + ah + 8, width - ex_x - 10, excluded, fill="#f6f6f6")
    arrow(cx, ay + ah + 8 + eh / 2, ex_x, ey + eh / 2)
    svg.line(cx, ay + ah, cx, ay + ah + 8 + eh / 2, stroke="#000000", width=1.2)
    ny = ey + eh + 16
    _, ny, _, nh = box(cx - bw / 2, ny, bw, analysed)
    arrow(cx, ay + ah + 8 + eh / 2, cx, ny)
    _, my, _, mh = box(ex_x, ny + nh + 6, width - ex_x - 10, missing, fill="#f6f6f6")
    svg.line(cx, ny + nh, cx, ny + nh + 18, stroke="#000000", width=1.2)
    arrow(cx, my + mh / 2, ex_x, my + mh / 2)
    row_y = max(my + mh, ny + nh + 30) + 20
    left, right = width * 0.25, width * 0.75
    svg.line(cx, ny + nh, cx, row_y - 12, stroke="#000000", width=1.2)
    svg.line(left, row_y - 12, right, row_y - 12, stroke="#000000", width=1.2)
    arrow(left, row_y - 12, left, row_y)
    arrow(right, row_y - 12, right, row_y)
    _, py_, _, ph = box(left - 120, row_y, 240, positives)
    box(right - 120, row_y, 240, negatives)
    if pos_split is not None and neg_split is not None:
        sy = py_ + ph + 26
        for centre, split in ((left, pos_split), (right, neg_split)):
            svg.line(centre, py_ + ph, centre, sy - 12, stroke="#000000", width=1.2)
            svg.line(centre - 62, sy - 12, centre + 62, sy - 12, stroke="#000000", width=1.2)
            arrow(centre - 62, sy - 12, centre - 62, sy)
            arrow(centre + 62, sy - 12, centre + 62, sy)
            box(centre - 120, sy, 116, split[0])
            box(centre + 4, sy, 116, split[1])
    svg.height = int(bottom[0] + 10)
    return svg.markup()
