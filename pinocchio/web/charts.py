"""The dashboard's charts, drawn on the server as SVG by pygal from the desk's figures
(`moderation.stats`): each is a plain image, readable without JavaScript. The console's pages
forbid inline styles, so a chart is served as an image of its own with a policy that lets its
styles apply and nothing run."""

from __future__ import annotations

from collections.abc import Callable

import pygal
from pygal.style import LightStyle

from pinocchio.core.labels import LABELS
from pinocchio.moderation.stats import APPEAL_STATUSES, PENALTY_KINDS, DeskStats

SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"  # styles apply; scripts and fetches do not
STYLE = LightStyle(font_family="'Noto Sans CJK SC', 'Noto Sans', sans-serif", background="white",
                   plot_background="white")


def _chart(kind, title: str, days: list[str]):
    chart = kind(js=[], disable_xml_declaration=True, width=720, height=300, style=STYLE, legend_at_bottom=True,
                 legend_at_bottom_columns=3, x_label_rotation=30 if len(days) > 8 else 0, show_y_guides=True,
                 print_values=False, no_data_text="no data yet", truncate_legend=-1)
    chart.title = title
    chart.x_labels = [d[5:] for d in days]  # MM-DD
    return chart


def _listening(stats: DeskStats):
    days = [d.day for d in stats.days]
    chart = _chart(pygal.Bar, "Streams and hours listened", days)
    chart.add("streams", [d.streams for d in stats.days])
    chart.add("hours", [round(d.hours, 1) for d in stats.days], secondary=True)
    return chart


def _findings(stats: DeskStats):
    chart = _chart(pygal.StackedBar, "Findings by label", [d.day for d in stats.days])
    for label in LABELS:
        if stats.total.findings[label]:
            chart.add(label, [d.findings[label] for d in stats.days])
    return chart


def _viewers(stats: DeskStats):
    chart = _chart(pygal.Bar, "Reminders and viewers' reports", [d.day for d in stats.days])
    chart.add("reminders", [d.reminders for d in stats.days])
    chart.add("viewers' reminders", [d.viewer_reminders for d in stats.days])
    chart.add("reports", [d.reports for d in stats.days])
    chart.add("viewers who reported", [d.reporters for d in stats.days])
    return chart


def _cases(stats: DeskStats):
    chart = _chart(pygal.Line, "Cases opened, decided, overturned", [d.day for d in stats.days])
    chart.add("opened", [d.cases_opened for d in stats.days])
    chart.add("decided", [d.cases_decided for d in stats.days])
    chart.add("overturned", [d.cases_overturned for d in stats.days])
    return chart


def _penalties(stats: DeskStats):
    chart = _chart(pygal.StackedBar, "Penalties by kind, appeals by outcome", [d.day for d in stats.days])
    for kind in PENALTY_KINDS:
        chart.add(kind.replace("_", " "), [d.penalties[kind] for d in stats.days])
    for status in APPEAL_STATUSES:
        chart.add(f"appeals {status}", [d.appeals[status] for d in stats.days], secondary=True)
    return chart


CHARTS: dict[str, Callable[[DeskStats], object]] = {
    "listening": _listening, "findings": _findings, "viewers": _viewers, "cases": _cases, "penalties": _penalties}


def render(name: str, stats: DeskStats) -> str:
    """One chart as an SVG document; KeyError for a name not in CHARTS."""
    return CHARTS[name](stats).render(is_unicode=True)
