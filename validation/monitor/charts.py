"""Inline SVG charts of the monitoring report: control charts over time, per-window estimates.

The same conventions as the study report's charts (:mod:`validation.report.charts`):
hand-built SVG with deterministic bytes, colours and strokes as attributes (no CSS
classes), ``<title>``/``<desc>`` text alternatives, every string escaped exactly once, the
Okabe-Ito palette (:data:`validation.report.charts.OKABE_ITO`) and series also told apart
by dash or marker. The charts draw numbers already in ``monitor.json``; nothing here
computes a statistic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from validation.report.charts import OKABE_ITO

BLACK, ORANGE, SKY, GREEN, BLUE, VERMILLION = (
    OKABE_ITO[0],
    OKABE_ITO[1],
    OKABE_ITO[2],
    OKABE_ITO[3],
    OKABE_ITO[5],
    OKABE_ITO[6],
)
GREY = "#6b6b6b"
FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
#: At most this many points are drawn per series; longer series keep each bucket's maximum.
MAX_POINTS = 1200

__all__ = ["WindowPoint", "control_chart", "window_chart"]


def _f(x: float) -> str:
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


class _Svg:
    def __init__(self, width: int, height: int, title: str, desc: str) -> None:
        self.width, self.height, self.title, self.desc = width, height, title, desc
        self.parts: list[str] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        *,
        stroke: str = BLACK,
        width: float = 1.0,
        dash: str = "",
    ) -> None:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" stroke="{stroke}" '
            f'stroke-width="{_f(width)}"{d}/>'
        )

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        anchor: str = "start",
        size: float = 10,
        fill: str = BLACK,
        rotate: float = 0.0,
    ) -> None:
        rot = f' transform="rotate({_f(rotate)} {_f(x)} {_f(y)})"' if rotate else ""
        self.add(
            f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" font-size="{_f(size)}" '
            f'fill="{fill}"{rot}>{escape(content)}</text>'
        )

    def markup(self) -> Markup:
        w, h = self.width, self.height
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" font-family="{escape(FONT)}" font-size="10">'
            f"<title>{escape(self.title)}</title><desc>{escape(self.desc)}</desc>"
            f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff" stroke="none"/>'
        )
        return Markup(head + "".join(self.parts) + "</svg>")  # every piece escaped above


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values in ``[lo, hi]`` (steps 1, 2, 2.5, 5 times a power of 10)."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    out = []
    k = first
    while k * step <= hi + 1e-9 * step:
        out.append(round(k * step, 12))
        k += 1
    return out


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def _legend(svg: _Svg, x: float, y: float, items: Sequence[tuple[str, str, str, str]]) -> None:
    for i, (label, color, dash, kind) in enumerate(items):
        xx = x + 170 * i
        if kind == "line":
            svg.line(xx, y, xx + 22, y, stroke=color, width=2, dash=dash)
        else:
            svg.add(
                f'<polygon points="{_f(xx + 11)},{_f(y - 5)} {_f(xx + 16)},{_f(y + 4)} '
                f'{_f(xx + 6)},{_f(y + 4)}" fill="{color}" stroke="{BLACK}" stroke-width="0.6"/>'
            )
        svg.text(xx + 28, y + 4, label)


def control_chart(
    values: Sequence[float],
    *,
    limit: float,
    signals: Sequence[int],
    times: Sequence[str],
    title: str,
    desc: str,
    xlabel: str,
    ylabel: str,
    lower: float = 0.0,
    width: int = 820,
    height: int = 260,
) -> Markup:
    """A control chart: the statistic per observation, the limit, and the signals.

    ``times`` label the first and last observation (and each signal's tooltip). Series
    longer than :data:`MAX_POINTS` are drawn from bucket maxima (peaks kept; display only).
    """
    svg = _Svg(width, height, title, desc)
    x0, y0 = 60.0, height - 52.0
    w, h = width - 80.0, height - 80.0
    n = len(values)
    top = max([limit * 1.15, *values]) if values else limit * 1.15
    bottom = min([lower, *values]) if values else lower
    span = (top - bottom) or 1.0

    def px(i: float) -> float:
        return x0 + w * (i / max(n - 1, 1))

    def py(v: float) -> float:
        return y0 - h * (v - bottom) / span

    for t in _ticks(bottom, top):
        svg.line(x0, py(t), x0 + w, py(t), stroke="#eeeeee")
        svg.text(x0 - 6, py(t) + 3.5, _fmt(t), anchor="end")
    svg.add(
        f'<rect x="{_f(x0)}" y="{_f(y0 - h)}" width="{_f(w)}" height="{_f(h)}" fill="none" '
        f'stroke="{BLACK}" stroke-width="1"/>'
    )
    svg.line(x0, py(limit), x0 + w, py(limit), stroke=VERMILLION, width=1.6, dash="6 3")
    if n:
        if n > MAX_POINTS:
            size = -(-n // MAX_POINTS)
            pts = []
            for start in range(0, n, size):
                chunk = values[start : start + size]
                j = max(range(len(chunk)), key=chunk.__getitem__)
                pts.append((start + j, chunk[j]))
        else:
            pts = list(enumerate(values))
        coords = " ".join(f"{_f(px(i))},{_f(py(v))}" for i, v in pts)
        svg.add(
            f'<polyline points="{coords}" fill="none" stroke="{BLUE}" stroke-width="1.4" '
            'stroke-linejoin="round"/>'
        )
        for s in signals:
            if 0 <= s < n:
                x, y = px(s), py(values[s])
                tip = f"signal at observation {s + 1} ({times[s] if s < len(times) else ''})"
                svg.add(
                    f'<polygon points="{_f(x)},{_f(y - 7)} {_f(x + 6)},{_f(y + 4)} {_f(x - 6)},{_f(y + 4)}" '
                    f'fill="{VERMILLION}" stroke="{BLACK}" stroke-width="0.6"><title>{escape(tip)}</title>'
                    "</polygon>"
                )
        svg.text(x0, y0 + 14, f"1 ({times[0][:10]})" if times else "1")
        svg.text(x0 + w, y0 + 14, f"{n} ({times[-1][:10]})" if times else str(n), anchor="end")
    else:
        svg.text(x0 + w / 2, y0 - h / 2, "no observations yet", anchor="middle", fill=GREY)
    svg.text(x0 + w / 2, y0 + 28, xlabel, anchor="middle")
    svg.text(14, y0 - h / 2, ylabel, anchor="middle", rotate=-90)
    _legend(
        svg,
        x0,
        height - 8,
        [
            ("statistic", BLUE, "", "line"),
            (f"control limit {_fmt(limit)}", VERMILLION, "6 3", "line"),
            (f"signal ({len(signals)})", VERMILLION, "", "triangle"),
        ],
    )
    return svg.markup()


@dataclass(frozen=True)
class WindowPoint:
    """One window's value (and interval) on a per-window chart; ``value`` None: not estimable."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    flagged: bool = False


def window_chart(
    points: Sequence[WindowPoint],
    *,
    title: str,
    desc: str,
    ylabel: str,
    lines: Sequence[tuple[str, float, str]] = (),
    lo: float | None = None,
    hi: float | None = None,
    width: int = 820,
    height: int = 240,
) -> Markup:
    """Per-window estimates with interval whiskers, and labelled horizontal reference lines.

    ``lines`` are ``(label, value, colour)``; flagged windows (an alarm) are drawn as
    vermillion diamonds, others as blue circles; a not-estimable window is marked "n/e".
    """
    svg = _Svg(width, height, title, desc)
    x0, y0 = 60.0, height - 62.0
    w, h = width - 80.0, height - 86.0
    vals = [v for p in points for v in (p.value, p.low, p.high) if v is not None]
    vals += [v for _, v, _ in lines]
    top = hi if hi is not None else (max(vals) * 1.1 if vals else 1.0)
    bottom = lo if lo is not None else min([0.0, *vals])
    span = (top - bottom) or 1.0
    n = len(points)

    def px(i: int) -> float:
        return x0 + w * (i + 0.5) / max(n, 1)

    def py(v: float) -> float:
        return y0 - h * (min(max(v, bottom), top) - bottom) / span

    for t in _ticks(bottom, top):
        svg.line(x0, py(t), x0 + w, py(t), stroke="#eeeeee")
        svg.text(x0 - 6, py(t) + 3.5, _fmt(t), anchor="end")
    svg.add(
        f'<rect x="{_f(x0)}" y="{_f(y0 - h)}" width="{_f(w)}" height="{_f(h)}" fill="none" '
        f'stroke="{BLACK}" stroke-width="1"/>'
    )
    legend: list[tuple[str, str, str, str]] = []
    dashes = ("6 3", "2 2", "8 3 2 3")
    for k, (label, value, color) in enumerate(lines):
        svg.line(x0, py(value), x0 + w, py(value), stroke=color, width=1.4, dash=dashes[k % 3])
        legend.append((f"{label} {_fmt(value)}", color, dashes[k % 3], "line"))
    every = max(1, -(-n // 24))
    for i, p in enumerate(points):
        x = px(i)
        if i % every == 0:
            svg.text(x, y0 + 12, p.label, anchor="end", rotate=-40, size=9)
        if p.value is None:
            svg.text(x, y0 - 4, "n/e", anchor="middle", fill=GREY, size=9)
            continue
        if p.low is not None and p.high is not None:
            svg.line(x, py(p.low), x, py(p.high), stroke=GREY, width=1.2)
            svg.line(x - 3, py(p.low), x + 3, py(p.low), stroke=GREY)
            svg.line(x - 3, py(p.high), x + 3, py(p.high), stroke=GREY)
        tip = f"{p.label}: {_fmt(p.value)}" + (
            f" ({_fmt(p.low)} to {_fmt(p.high)})"
            if p.low is not None and p.high is not None
            else ""
        )
        y = py(p.value)
        if p.flagged:
            svg.add(
                f'<polygon points="{_f(x)},{_f(y - 6)} {_f(x + 6)},{_f(y)} {_f(x)},{_f(y + 6)} '
                f'{_f(x - 6)},{_f(y)}" fill="{VERMILLION}" stroke="{BLACK}" stroke-width="0.6">'
                f"<title>{escape(tip + ' (alarm)')}</title></polygon>"
            )
        else:
            svg.add(
                f'<circle cx="{_f(x)}" cy="{_f(y)}" r="4" fill="{BLUE}" stroke="{BLACK}" '
                f'stroke-width="0.6"><title>{escape(tip)}</title></circle>'
            )
    svg.text(14, y0 - h / 2, ylabel, anchor="middle", rotate=-90)
    if legend:
        _legend(svg, x0, height - 6, legend)
    return svg.markup()
