"""The report's chart: daily inflow and outflow as bars, the open backlog as a line, drawn by matplotlib.

Days are the config's local days (the read model cuts them at local midnight), and the axis says
which zone. The Agg backend renders to PNG bytes without a display; a Figure built directly (not pyplot) keeps no
global state, so the daemon can draw from any thread and leaks nothing between reports.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, tzinfo

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from backlog_watch.store.read_model import DayFlow  # noqa: E402

INFLOW, OUTFLOW, BACKLOG = "#d9822b", "#2b8a3e", "#1c4e80"
PARTIAL_ALPHA = 0.45
"""Today's bars are drawn this opaque, hatched: a day not over is not a quiet day."""


def day_labels(days: Sequence[DayFlow]) -> list[str]:
    """The x axis: each local day, the one not over yet marked "so far"."""
    return [f"{d.day:%a %d}" + ("\nso far" if d.partial else "") for d in days]


def backlog_figure(days: Sequence[DayFlow], title: str, tz: tzinfo) -> Figure:
    """The chart as a Figure; a partial day (today) is drawn hatched and lighter, its point hollow."""
    figure = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    bars = figure.add_subplot()
    x = list(range(len(days)))
    width = 0.38
    for offset, values, label, colour in (
        (-width / 2, [d.created for d in days], "created", INFLOW),
        (width / 2, [d.solved for d in days], "solved", OUTFLOW),
    ):
        drawn = bars.bar([i + offset for i in x], values, width, label=label, color=colour)
        for patch, day in zip(drawn.patches, days, strict=True):
            if day.partial:
                patch.set_alpha(PARTIAL_ALPHA)
                patch.set_hatch("//")
    bars.set_ylabel("tickets per day")
    bars.set_xlabel(f"day ({tz})")
    bars.set_xticks(x, day_labels(days), rotation=0 if len(days) <= 8 else 45, fontsize=8)
    line = bars.twinx()
    line.plot(x, [d.open_at_end for d in days], color=BACKLOG, marker="o", linewidth=2.5, label="open backlog")
    partial = [i for i, d in enumerate(days) if d.partial]
    if partial:
        line.plot(
            partial,
            [days[i].open_at_end for i in partial],
            linestyle="none",
            marker="o",
            markersize=9,
            markerfacecolor="white",
            color=BACKLOG,
            label="so far today",
        )
    line.set_ylabel("open backlog")
    line.set_ylim(bottom=0)
    handles = bars.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
    bars.legend(handles, [str(h.get_label()) for h in handles], loc="upper left", fontsize=8, frameon=False)
    bars.set_title(title, fontsize=11)
    bars.spines["top"].set_visible(False)
    line.spines["top"].set_visible(False)
    figure.tight_layout()
    return figure


def backlog_chart(days: Sequence[DayFlow], title: str, tz: tzinfo = UTC) -> bytes:
    """A PNG (about 1000 x 450 px) of the days' created and solved tickets and the backlog at each day's
    end, dated in ``tz`` (the config's time zone)."""
    out = io.BytesIO()
    backlog_figure(days, title, tz).savefig(out, format="png")
    return out.getvalue()
