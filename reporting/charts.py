"""Server-rendered SVG charts: geometry computed here, drawn by
``templates/reporting/partials/chart.html`` (no JavaScript, no inline style: the page's
Content-Security-Policy allows neither). Each chart carries its title and description
for ``<title>``/``<desc>``; the page prints the same figures in a table beside it."""

from __future__ import annotations

from dataclasses import dataclass, field

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
