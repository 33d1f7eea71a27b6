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


def weight_histogram(df: pl.DataFrame, threshold_weight: float | None, title: str,
                     desc: str) -> str | None:
    """Candidate pairs per match weight, accepted and rejected in two colours, with the
    threshold as a dashed line (Splink's match-weight histogram, static)."""
    if df.height == 0:
        return None
    xs = df["weight_bin"].to_list()
    acc = [float(v or 0) for v in df["accepted_pairs"].to_list()]
    rej = [float(p or 0) - a for p, a in zip(df["pairs"].to_list(), acc)]
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
        ax.bar(xs, rej, width=0.85, color=PALETTE[1], label="not linked")
        ax.bar(xs, acc, bottom=rej, width=0.85, color=PALETTE[0], label="linked")
        if threshold_weight is not None:
            ax.axvline(threshold_weight, color="#000000", linestyle="--", linewidth=1.2)
            ax.annotate(f"threshold {threshold_weight:.1f}", (threshold_weight, 1), xycoords=(
                "data", "axes fraction"), xytext=(4, -12), textcoords="offset points", fontsize=8)
        ax.set_xlabel("match weight (log2 odds that the two records are one person)")
        ax.set_ylabel("candidate pairs")
        ax.legend(frameon=False, fontsize=8, loc="upper left")
        return _to_svg(fig, title, desc)


def m_u_levels(params: pl.DataFrame, title: str, desc: str) -> str | None:
    """Per comparison level: m (share among true matches) and u (among non-matches) side by
    side, and the match weight log2(m/u) (Splink's m/u parameter and match-weight charts)."""
    if params.height == 0:
        return None
    labels = [f"{c}: {lv}"[:58] for c, lv in zip(params["comparison"], params["level"])][::-1]
    m = params["m_probability"].fill_null(0).to_list()[::-1]
    u = params["u_probability"].fill_null(0).to_list()[::-1]
    w = params["match_weight"].fill_null(0).to_list()[::-1]
    ys = list(range(len(labels)))
    with plt.rc_context(RC):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 0.15 * len(labels) + 1.2), sharey=True,
                                     layout="constrained", gridspec_kw={"width_ratios": [1.2, 1]})
        a1.barh([y + 0.2 for y in ys], m, height=0.4, color=PALETTE[0], label="m (true matches)")
        a1.barh([y - 0.2 for y in ys], u, height=0.4, color=PALETTE[1], label="u (non-matches)")
        a1.set_yticks(ys, labels, fontsize=6)
        a1.set_xlim(0, 1)
        a1.set_xlabel("probability of the level")
        a1.legend(frameon=False, fontsize=8, loc="lower right")
        a2.barh(ys, w, color=[PALETTE[2] if v >= 0 else PALETTE[1] for v in w])
        a2.axvline(0, color="#555555", linewidth=0.8)
        a2.set_xlabel("match weight log2(m / u)")
        return _to_svg(fig, title, desc)


def waterfall(df: pl.DataFrame, threshold_weight: float | None, title: str,
              desc: str) -> str | None:
    """One panel per pair: the prior, then each comparison's weight added in turn, ending at
    the pair's total (Splink's waterfall chart, static)."""
    if df.height == 0:
        return None
    pairs = df["pair"].unique(maintain_order=True).to_list()
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.8), sharey=True,
                                 squeeze=False, layout="constrained")
        for ax, pair in zip(axes[0], pairs):
            part = df.filter(pl.col("pair") == pair)
            steps, ws = part["step"].to_list(), part["weight"].to_list()
            run = 0.0
            for i, w in enumerate(ws):
                ax.bar(i, w, bottom=run, color=PALETTE[0] if w >= 0 else PALETTE[1], width=0.7)
                run += w
            ax.bar(len(ws), run, color="#555555", width=0.7)
            if threshold_weight is not None:
                ax.axhline(threshold_weight, color="#000000", linestyle="--", linewidth=1)
            ax.set_xticks(range(len(ws) + 1), [s.split(" (")[0] for s in steps] + ["total"],
                          rotation=60, ha="right", fontsize=7)
            ax.set_title(f"{pair[:38]}\ntotal {run:.1f}", fontsize=8)
        axes[0][0].set_ylabel("match weight")
        return _to_svg(fig, title, desc)
