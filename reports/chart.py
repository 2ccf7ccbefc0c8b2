"""Jobs per day per pool as the geometry of a stacked bar chart, drawn as SVG by a template:
the chart needs no JavaScript and is readable where scripts are blocked."""
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28
PALETTE_SIZE = 8  # colours in the stylesheet: series-0 … series-7
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int  # index into the palette
    title: str  # the tooltip: day, pool and count


@dataclass(frozen=True)
class Tick:
    at: float
    text: str


@dataclass(frozen=True)
class LegendItem:
    series: int
    name: str
    total: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: tuple[Bar, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    legend: tuple[LegendItem, ...]
    summary: str  # the chart in one sentence, for screen readers


def stacked_bars(
    days: Sequence[date], series: Sequence[str], counts: Sequence[Sequence[int]]
) -> Chart | None:
    """One bar per day (oldest first), stacked by series; None when there is nothing to draw."""
    totals = [sum(day_counts) for day_counts in counts]
    if not days or not any(totals):
        return None
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    scale_max = _nice_ceiling(max(totals))
    slot = (right - LEFT) / len(days)
    bar_width = max(1.0, slot * 0.72)
    bars = []
    for index, (day, day_counts) in enumerate(zip(days, counts)):
        x = LEFT + index * slot + (slot - bar_width) / 2
        y = float(bottom)
        for number, (name, count) in enumerate(zip(series, day_counts)):
            if not count:
                continue
            height = (bottom - TOP) * count / scale_max
            y -= height
            bars.append(
                Bar(
                    round(x, 2), round(y, 2), round(bar_width, 2), round(height, 2),
                    number % PALETTE_SIZE, f"{day.isoformat()} {name}: {count} jobs",
                )
            )  # fmt: skip
    step = max(1, math.ceil(len(days) / MAX_X_LABELS))
    x_ticks = tuple(
        Tick(round(LEFT + index * slot + slot / 2, 2), day.strftime("%m-%d"))
        for index, day in enumerate(days)
        if (len(days) - 1 - index) % step == 0  # always label the newest day
    )
    y_ticks = tuple(
        Tick(round(bottom - (bottom - TOP) * value / scale_max, 2), f"{value:,}")
        for value in (0, scale_max // 2, scale_max)
    )
    legend = tuple(
        LegendItem(number % PALETTE_SIZE, name, sum(day_counts[number] for day_counts in counts))
        for number, name in enumerate(series)
    )
    summary = (
        f"Jobs per day from {days[0].isoformat()} to {days[-1].isoformat()}: "
        f"{sum(totals):,} in all, at most {max(totals):,} in a day."
    )
    return Chart(
        WIDTH, HEIGHT, LEFT, right, TOP, bottom, tuple(bars), x_ticks, y_ticks, legend, summary
    )


def _nice_ceiling(value: int) -> int:
    """The smallest of 2, 4, 6, 10, 20, 40, 60, 100, … that is at least `value`, so that the
    middle tick is a whole number too."""
    magnitude = 1
    while True:
        for step in (2, 4, 6, 10):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10
