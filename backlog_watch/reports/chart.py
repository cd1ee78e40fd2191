"""The report's chart: daily inflow and outflow as bars, the open backlog as a line, drawn by matplotlib.

The Agg backend renders to PNG bytes without a display; a Figure built directly (not pyplot) keeps no
global state, so the daemon can draw from any thread and leaks nothing between reports.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from backlog_watch.store.read_model import DayFlow  # noqa: E402

INFLOW, OUTFLOW, BACKLOG = "#d9822b", "#2b8a3e", "#1c4e80"


def backlog_chart(days: Sequence[DayFlow], title: str) -> bytes:
    """A PNG (about 1000 x 450 px) of the days' created and solved tickets and the backlog at each day's end."""
    figure = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    bars = figure.add_subplot()
    x = list(range(len(days)))
    width = 0.38
    bars.bar([i - width / 2 for i in x], [d.created for d in days], width, label="created", color=INFLOW)
    bars.bar([i + width / 2 for i in x], [d.solved for d in days], width, label="solved", color=OUTFLOW)
    bars.set_ylabel("tickets per day")
    bars.set_xticks(x, [f"{d.day:%a %d}" for d in days], rotation=0 if len(days) <= 8 else 45, fontsize=8)
    line = bars.twinx()
    line.plot(x, [d.open_at_end for d in days], color=BACKLOG, marker="o", linewidth=2.5, label="open backlog")
    line.set_ylabel("open backlog")
    line.set_ylim(bottom=0)
    handles = bars.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
    bars.legend(handles, [str(h.get_label()) for h in handles], loc="upper left", fontsize=8, frameon=False)
    bars.set_title(title, fontsize=11)
    bars.spines["top"].set_visible(False)
    line.spines["top"].set_visible(False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
