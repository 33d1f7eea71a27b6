"""Charts as inline SVG (matplotlib, text drawn as paths: no fonts or files to fetch), each with
a <title> and <desc> for screen readers; the report always prints the table behind it too."""
from __future__ import annotations

import html
import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

# Okabe-Ito: distinguishable with colour-vision deficiencies, dark enough on white.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
RC = {"svg.fonttype": "path", "svg.hashsalt": "reglink", "font.size": 10,
      "axes.prop_cycle": matplotlib.cycler(color=PALETTE), "axes.spines.top": False,
      "axes.spines.right": False}

_counter = [0]


def _to_svg(fig, title: str, desc: str) -> str:
    buf = io.StringIO()
    # no bbox_inches="tight": it draws the figure twice; the layout is constrained instead
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop XML declaration and DOCTYPE (a URL)
    _counter[0] += 1
    cid = f"chart{_counter[0]}"
    svg = re.sub(r"<svg\b", f'<svg role="img" aria-labelledby="{cid}-t {cid}-d"', svg, count=1)
    head_end = svg.index(">") + 1
    head = re.sub(r'\s(width|height)="[^"]*"', "", svg[:head_end])  # scale with the page
    svg = head + svg[head_end:]
    head_end = len(head)
    return (svg[:head_end] + f'<title id="{cid}-t">{html.escape(title)}</title>'
            f'<desc id="{cid}-d">{html.escape(desc)}</desc>' + svg[head_end:])


def bar_h(labels: list[str], values: list[float], title: str, desc: str, xlabel: str,
          xmax: float | None = 1.0, percent: bool = True) -> str | None:
    """Horizontal bars (e.g. completeness per field); None when there is nothing to draw."""
    if not labels:
        return None
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(7, 0.32 * len(labels) + 0.9), layout="constrained")
        ax.barh(labels[::-1], [v or 0 for v in values[::-1]], color=PALETTE[0])
        if xmax is not None:
            ax.set_xlim(0, xmax)
        if percent:
            ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel(xlabel)
        return _to_svg(fig, title, desc)


def lines(df: pl.DataFrame, x: str, y: str, series: str | None, title: str, desc: str,
          ylabel: str, facet: str | None = None, zero_line: bool = False) -> str | None:
    """Time series, one line per series value, optionally one panel per facet value."""
    if df.height == 0:
        return None
    facets = df[facet].unique(maintain_order=True).sort().to_list() if facet else [None]
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(facets), figsize=(4.6 * len(facets) + 1.5, 3.4),
                                 squeeze=False, sharey=False, layout="constrained")
        for ax, fv in zip(axes[0], facets):
            part = df if fv is None else df.filter(pl.col(facet) == fv)
            groups = (part[series].unique(maintain_order=True).sort().to_list() if series
                      else [None])
            for i, g in enumerate(groups):
                s = part if g is None else part.filter(pl.col(series) == g)
                s = s.sort(x)
                ax.plot([str(v) for v in s[x].to_list()] if s[x].dtype == pl.String
                        else s[x].to_list(), s[y].to_list(), marker="o", markersize=3,
                        linestyle=["-", "--", "-.", ":"][i % 4], label=str(g) if g else None)
            if zero_line:
                ax.axhline(0, color="#555555", linewidth=0.8)
            if fv is not None:
                ax.set_title(str(fv))
            ax.set_ylabel(ylabel)
            ax.tick_params(axis="x", labelrotation=45)
        if series:
            axes[0][-1].legend(frameon=False, fontsize=8, loc="best")
        return _to_svg(fig, title, desc)


def histogram(df: pl.DataFrame, x: str, y: str, series: str | None, title: str, desc: str,
              xlabel: str, ylabel: str) -> str | None:
    """Pre-binned counts as bars, stacked by series (one colour per series value)."""
    if df.height == 0:
        return None
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
        xs = sorted(df[x].unique().to_list())
        groups = df[series].unique(maintain_order=True).sort().to_list() if series else [None]
        bottom = [0.0] * len(xs)
        for g in groups:
            s = df if g is None else df.filter(pl.col(series) == g)
            got = dict(zip(s[x].to_list(), s[y].to_list()))
            h = [float(got.get(v, 0) or 0) for v in xs]
            ax.bar(xs, h, bottom=bottom, width=0.85, label=str(g) if g else None)
            bottom = [b + v for b, v in zip(bottom, h)]
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if series:
            ax.legend(frameon=False, fontsize=8)
        return _to_svg(fig, title, desc)
