"""Linkage figures from the warehouse `person_links` table: how many of each register's
records are linked to a person found in each other register, duplicates within a register,
and the match-weight distribution (Bangkok conclusions para 10 (b): record matching without a
unique identifier; toolkit 6.20-6.21 integration at microdata level)."""
from __future__ import annotations

import polars as pl

from reglink.quality.stores import Stores, q
from reglink.store import is_identifier_column

WEIGHT_MIN, WEIGHT_MAX = -10, 30  # match weights are clipped to this range for the histogram


def cross_register_links(st: Stores) -> pl.DataFrame | None:
    """For each register A and other register B: records of A, records of A whose person also
    has a record in B, and the share. Sources with no records are left out."""
    if not st.has("warehouse", "person_links"):
        return None
    return st.sql("warehouse", """
        WITH pk AS (SELECT DISTINCT source, person_key FROM person_links),
        tot AS (SELECT source, count(*) AS records FROM person_links GROUP BY source),
        hit AS (
            SELECT l.source, o.source AS other_source, count(*) AS linked
            FROM person_links l JOIN pk o ON o.person_key = l.person_key AND o.source <> l.source
            GROUP BY ALL)
        SELECT a.source, b.source AS other_source, a.records,
               coalesce(h.linked, 0) AS linked, coalesce(h.linked, 0) / a.records AS share
        FROM tot a CROSS JOIN tot b
        LEFT JOIN hit h ON h.source = a.source AND h.other_source = b.source
        WHERE a.source <> b.source
        ORDER BY a.source, b.source""").with_columns(
        pl.col("records").cast(pl.Int64), pl.col("linked").cast(pl.Int64))


def within_register_duplicates(st: Stores) -> pl.DataFrame | None:
    """Per register: records, distinct persons, persons with more than one record, and the
    records beyond one per person (duplicates — or, for border crossings, repeat trips)."""
    if not st.has("warehouse", "person_links"):
        return None
    return st.sql("warehouse", """
        WITH per AS (SELECT source, person_key, count(*) AS n FROM person_links GROUP BY ALL)
        SELECT source, sum(n) AS records, count(*) AS persons,
               count(*) FILTER (WHERE n > 1) AS persons_with_several_records,
               sum(n) - count(*) AS records_beyond_one_per_person,
               (sum(n) - count(*)) / sum(n) AS duplicate_share
        FROM per GROUP BY source ORDER BY source""").with_columns(
        pl.col("records").cast(pl.Int64), pl.col("records_beyond_one_per_person").cast(pl.Int64),
        pl.col("persons").cast(pl.Int64), pl.col("persons_with_several_records").cast(pl.Int64))


def match_weight_histogram(st: Stores) -> pl.DataFrame | None:
    """Records per source and whole-number match-weight bin, weight = log2(p / (1 - p)) of the
    record's match_probability (clipped to [-10, 30]); records without one are 'unscored'."""
    if not st.has("warehouse", "person_links"):
        return None
    p = "match_probability"
    return st.sql("warehouse", f"""
        WITH w AS (
            SELECT source,
                   CASE WHEN {q(p)} IS NULL THEN NULL
                        WHEN {q(p)} >= 1 THEN {WEIGHT_MAX}
                        WHEN {q(p)} <= 0 THEN {WEIGHT_MIN}
                        ELSE greatest({WEIGHT_MIN}, least({WEIGHT_MAX},
                             log2({q(p)} / (1 - {q(p)})))) END AS weight
            FROM person_links)
        SELECT source, CAST(floor(weight) AS INTEGER) AS weight_bin, count(*) AS records
        FROM w GROUP BY ALL ORDER BY source, weight_bin NULLS FIRST""").with_columns(
        pl.col("records").cast(pl.Int64))


def linkage_quality_tables(st: Stores, max_rows: int = 40) -> dict[str, pl.DataFrame]:
    """The linkage stage's own `quality_linkage_*` tables (first rows, identifier-free columns),
    shown as they are so the report does not re-invent their figures."""
    out = {}
    for t in sorted(st.tables("warehouse")):
        if t.startswith("quality_linkage"):
            cols = [c for c in st.columns("warehouse", t) if not is_identifier_column(c)]
            if cols:
                out[t] = st.sql("warehouse", f"SELECT {', '.join(q(c) for c in cols)} "
                                f"FROM {q(t)} LIMIT {int(max_rows)}")
    return out


# ---------------------------------------------------------------- the summary for non-specialists

def summary_metrics(st: Stores) -> dict[str, float]:
    """The linkage stage's `quality_linkage_summary` as metric -> value (empty without it)."""
    if not st.has("warehouse", "quality_linkage_summary"):
        return {}
    df = st.sql("warehouse", "SELECT metric, value FROM quality_linkage_summary")
    return {m: float(v) for m, v in zip(df["metric"], df["value"]) if v is not None}


def weight_of(p: float) -> float:
    """A match probability as a match weight, log2 of the odds (what the charts' x axis is)."""
    import math

    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log2(p / (1 - p))


def _share_words(x: float) -> str:
    """A rate in words a non-specialist reads: '1 in 1,800 (0.06 %)'."""
    if x <= 0:
        return "none (0 %)"
    return f"about 1 in {round(1 / x):,} ({x * 100:.2g} %)"


def verdict(m: dict[str, float]) -> list[str]:
    """The linkage in plain words: what was decided, how often it is likely wrong either way,
    and what that means for the published figures. Built only from the stage's own metrics;
    paragraphs other checks (split or model-choice counts) can be appended to."""
    if not m:
        return ["The linkage stage left no summary in the warehouse (linkage not run)."]
    out = []
    thr = m.get("threshold")
    recs, persons = m.get("records"), m.get("persons")
    if recs and persons:
        out.append(f"{recs:,.0f} records of all registers were linked into {persons:,.0f} "
                   f"persons: on average {recs / persons:.1f} records per person.")
    if thr is not None:
        out.append(f"Two records are taken to be the same person when the model gives a match "
                   f"probability of at least {thr:.2f} (a match weight of "
                   f"{weight_of(thr):.1f}; the dashed line on the histogram below).")
    fm, mm = m.get("expected_false_match_rate"), m.get("expected_missed_match_rate")
    if fm is not None:
        out.append(f"False matches (two different people joined): {_share_words(fm)} of the "
                   "accepted pairs, by the model's own estimate. A false match merges two "
                   "people's travel histories, so a migration can be missed or invented; at "
                   "this rate the effect on flows and stocks is "
                   f"{'negligible' if fm < 0.005 else 'small' if fm < 0.02 else 'material: review the threshold'}.")
    if mm is not None:
        out.append(f"Missed matches (one person left as two): {_share_words(mm)} of the true "
                   "pairs among the candidates. A missed match splits one person's history, "
                   "so one stay can look like an emigration and a new immigration: it "
                   "inflates both flows, and the effect is "
                   f"{'negligible' if mm < 0.005 else 'small' if mm < 0.05 else 'material: review the threshold'}.")
    if m.get("model_trained_this_run") is not None:
        out.append("The model was " + ("trained on this run's data." if m["model_trained_this_run"]
                                       else "a saved model, reused (not re-trained)."))
    return out


def pair_weights(st: Stores) -> pl.DataFrame | None:
    """Candidate pairs per whole-number match weight, accepted or not (the linkage stage's
    `quality_linkage_match_weights`)."""
    if not st.has("warehouse", "quality_linkage_match_weights"):
        return None
    return st.sql("warehouse", "SELECT weight_bin, pairs, accepted_pairs FROM "
                               "quality_linkage_match_weights ORDER BY weight_bin").with_columns(
        pl.col("weight_bin").cast(pl.Int64), pl.col("pairs").cast(pl.Int64),
        pl.col("accepted_pairs").cast(pl.Int64))


def parameters(st: Stores) -> pl.DataFrame | None:
    """m and u probabilities and the match weight of every comparison level of the model."""
    if not st.has("warehouse", "quality_linkage_parameters"):
        return None
    return st.sql("warehouse", "SELECT comparison, level_order, level, m_probability, "
                               "u_probability, match_weight FROM quality_linkage_parameters "
                               "ORDER BY comparison, level_order")


def example_pairs(params: pl.DataFrame, prior_weight: float) -> pl.DataFrame:
    """Three illustrative pairs built from the model's own levels, for the waterfall: every
    field agreeing exactly; names and date of birth agreeing with no document or address in
    common (a traveller against a register record); a near-miss (names alike, date of birth
    off by a year). Rows: pair, step, weight; the first step is the prior."""
    firsts = params.group_by("comparison", maintain_order=True).agg(
        pl.col("match_weight").first().alias("best"), pl.col("match_weight").last().alias("other"),
        pl.col("level").first().alias("best_level"), pl.col("level").last().alias("other_level"),
        pl.col("level"), pl.col("match_weight"))
    core = {"given_names", "surname", "birth_date", "sex", "citizenship", "country_of_birth"}

    def pick(row: dict, want: str) -> tuple[str, float]:
        if want == "best":
            return row["best_level"], row["best"]
        if want == "other":
            return row["other_level"], row["other"]
        for lv, w in zip(row["level"], row["match_weight"]):  # a named partial level
            if want.lower() in lv.lower():
                return lv, w
        return row["best_level"], row["best"]

    plans = {
        "A: every field agrees": lambda c: "best",
        "B: same name and birth date, no document or address in common":
            lambda c: "best" if c in core else "other",
        "C: names alike, birth year off by one":
            lambda c: ("Jaro-Winkler" if c in ("given_names", "surname") else "year within one"
                       if c == "birth_date" else "best" if c in core else "other"),
    }
    rows = []
    for pair, plan in plans.items():
        rows.append({"pair": pair, "step": "prior (two random records)", "level": "",
                     "weight": prior_weight})
        for r in firsts.iter_rows(named=True):
            lv, w = pick(r, plan(r["comparison"]))
            rows.append({"pair": pair, "step": r["comparison"], "level": lv, "weight": float(w)})
    return pl.DataFrame(rows)
