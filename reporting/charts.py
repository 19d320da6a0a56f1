"""Server-rendered SVG charts: geometry and markup computed here (no JavaScript, no
inline style: the page's Content-Security-Policy allows neither). Each chart carries its
title and description for ``<title>``/``<desc>``; the page prints the same figures in a
table beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 220
LEFT = 44  # room for the y axis' labels
BOTTOM = 24  # room for the first and last day
ROW = 26  # one horizontal bar


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    label: str  # the bar's figure in words, shown as its tooltip


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"


@dataclass(frozen=True)
class Chart:
    key: str  # unique on the page: the ids of <title> and <desc>
    title: str
    desc: str
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)

    def svg(self) -> SafeString:
        """The chart's markup, every text escaped (built here rather than in a template:
        a year of columns is a few thousand elements, which the template engine renders
        about ten times slower)."""
        key = escape(self.key)  # the fills are the module's own colour constants
        parts = [
            f'<svg class="chart" viewBox="0 0 {self.width} {self.height}" width="100%" '
            f'role="img" aria-labelledby="chart-{key}-title chart-{key}-desc" '
            f'data-chart="{key}">',
            f'<title id="chart-{key}-title">{escape(self.title)}</title>',
            f'<desc id="chart-{key}-desc">{escape(self.desc)}</desc>',
        ]
        parts += [
            f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="#d9dde3"/>'
            for x1, y1, x2, y2 in self.lines
        ]
        parts += [
            f'<rect x="{r.x:g}" y="{r.y:g}" width="{r.width:g}" height="{r.height:g}" '
            f'fill="{r.fill}"><title>{escape(r.label)}</title></rect>'
            for r in self.rects
        ]
        parts += [
            f'<text x="{t.x:g}" y="{t.y:g}" text-anchor="{t.anchor}" font-size="12" '
            f'fill="#444">{escape(t.text)}</text>'
            for t in self.texts
        ]
        parts.append("</svg>")
        return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


@dataclass(frozen=True)
class Series:
    label: str
    fill: str
    values: list[int | float]


def _nice_max(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at least the value."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if value <= factor * step:
                return factor * step
        step *= 10


def stacked_columns(
    *, key: str, title: str, desc: str, labels: list[str], series: list[Series]
) -> Chart:
    """One column per label (a day), its series stacked bottom up."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - 8
    slot = plot_w / max(len(labels), 1)
    gap = min(2.0, slot * 0.2)
    rects, texts, lines = [], [], []
    for tick in (0, top / 2, top):
        y = 8 + plot_h - plot_h * tick / top
        lines.append((LEFT, y, WIDTH - 4, y))
        texts.append(Text(LEFT - 6, y + 4, f"{tick:g}", "end"))
    for index, label in enumerate(labels):
        base = 8 + plot_h
        for one in series:
            value = one.values[index]
            if not value:
                continue
            height = plot_h * value / top
            base -= height
            rects.append(
                Rect(
                    round(LEFT + index * slot + gap / 2, 2),
                    round(base, 2),
                    round(max(slot - gap, 0.5), 2),
                    round(height, 2),
                    one.fill,
                    f"{label} · {one.label}: {value:g}",
                )
            )
    if labels:
        texts.append(Text(LEFT, HEIGHT - 6, labels[0]))
        texts.append(Text(WIDTH - 4, HEIGHT - 6, labels[-1], "end"))
    return Chart(key, title, desc, WIDTH, HEIGHT, rects, texts, lines)


def share_bars(
    *, key: str, title: str, desc: str, rows: list[tuple[str, float | None, str]], fill: str
) -> Chart:
    """One horizontal bar per row: (label, percentage or None, the figure in words)."""
    label_w = 230
    plot_w = WIDTH - label_w - 60
    rects, texts = [], []
    for index, (label, percent, words) in enumerate(rows):
        y = 4 + index * ROW
        texts.append(Text(label_w - 8, y + 15, label, "end"))
        width = plot_w * (percent or 0) / 100
        rects.append(Rect(label_w, y + 3, round(max(width, 0.5), 2), ROW - 8, fill, words))
        shown = "–" if percent is None else f"{percent:.0f}%"
        texts.append(Text(label_w + width + 6, y + 15, shown))
    return Chart(key, title, desc, WIDTH, 8 + ROW * max(len(rows), 1), rects, texts)
