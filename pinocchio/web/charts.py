"""The dashboard's charts, drawn on the server as SVG by pygal from the desk's figures
(`moderation.stats`): each is a plain image, readable without JavaScript. The console's pages
forbid inline styles, so a chart is served as an image of its own with a policy that lets its
styles apply and nothing run."""

from __future__ import annotations

from collections.abc import Callable

import pygal
from pygal.style import LightStyle

from pinocchio.core.labels import LABELS
from pinocchio.moderation.stats import APPEAL_STATUSES, PENALTY_KINDS, DayStats, DeskStats

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


# Each chart: its kind, its title, and its series as (name, the day's value, on the secondary axis).
Series = tuple[str, Callable[[DayStats], float], bool]


def _series(stats: DeskStats) -> dict[str, tuple[type, str, list[Series]]]:
    t = stats.total
    return {
        "listening": (pygal.Bar, "Streams and hours listened", [
            ("streams", lambda d: d.streams, False), ("hours", lambda d: round(d.hours, 1), True)]),
        "findings": (pygal.StackedBar, "Findings by label", [
            (label, lambda d, label=label: d.findings[label], False) for label in LABELS if t.findings[label]]),
        "viewers": (pygal.Bar, "Reminders and viewers' reports", [
            ("reminders", lambda d: d.reminders, False), ("viewers' reminders", lambda d: d.viewer_reminders, False),
            ("reports", lambda d: d.reports, False), ("viewers who reported", lambda d: d.reporters, False)]),
        "cases": (pygal.Line, "Cases opened, decided, overturned", [
            ("opened", lambda d: d.cases_opened, False), ("decided", lambda d: d.cases_decided, False),
            ("overturned", lambda d: d.cases_overturned, False)]),
        "penalties": (pygal.StackedBar, "Penalties by kind, appeals by outcome", [
            *((kind.replace("_", " "), lambda d, kind=kind: d.penalties[kind], False) for kind in PENALTY_KINDS),
            *((f"appeals {status}", lambda d, status=status: d.appeals[status], True) for status in APPEAL_STATUSES)]),
    }


CHARTS = ("listening", "findings", "viewers", "cases", "penalties")


def render(name: str, stats: DeskStats) -> str:
    """One chart as an SVG document; KeyError for a name not in CHARTS."""
    kind, title, series = _series(stats)[name]
    chart = _chart(kind, title, [d.day for d in stats.days])
    for label, value, secondary in series:
        chart.add(label, [value(d) for d in stats.days], secondary=secondary)
    return chart.render(is_unicode=True)
