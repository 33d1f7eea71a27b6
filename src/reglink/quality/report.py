"""Build the quality report of one run: an overview page and a page per register, static HTML
that opens offline, with every figure also written as JSON/Parquet and the main ones as
warehouse `quality_*` tables (counts and shares only, no identifiers).

Answers toolkit Annex 1 (coverage and quality of each administrative source) and Annex 2 (the
border register's topics), and the Bangkok conclusions para 9: "Coverage and quality of each
type of administrative sources should be evaluated and made available to users."
"""
from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import polars as pl

from reglink import store
from reglink.config import PipelineConfig
from reglink.quality import (accounting, charts, coherence, coverage, fields, linkage,
                             sensitivity, validation, vital)
from reglink.quality.figures import Figure, write_figure
from reglink.quality.stores import Stores
from reglink.schemas import REGISTERS, SOURCES

log = logging.getLogger(__name__)

TITLES = {name: r.title for name, r in REGISTERS.items()}
TEMPLATES = Path(__file__).parent / "templates"


def page_name(source: str) -> str:
    return f"register-{source}.html"


@dataclass
class Section:
    """A heading with its figures (and an optional paragraph)."""

    id: str
    title: str
    intro: str = ""
    figures: list[Figure] = field(default_factory=list)
    error: str | None = None
    summary: list[str] = field(default_factory=list)  # plain-language paragraphs, shown first
    detail: list[Figure] = field(default_factory=list)  # folded below (<details>, no script)


@dataclass
class RegisterPage:
    source: str
    title: str
    status: str  # delivered / configured but not ingested / not delivered
    annex1: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    records: int | None = None
    mean_completeness: float | None = None


class _Guard:
    """Run one section; in production a failure becomes a note on the page, in tests (strict)
    it is raised so nothing is silently left out."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.errors: list[str] = []

    def __call__(self, section: Section, fn, *args):
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the report must still be written
            if self.strict:
                raise
            msg = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning("quality report section %s failed: %s\n%s", section.id, msg,
                        traceback.format_exc())
            section.error = msg
            self.errors.append(f"{section.title}: {msg}")
            return None


def _absent(key, title, method, why, toolkit="", source=None) -> Figure:
    return Figure(key, title, method, None, toolkit=toolkit, source=source, absent=why)


# ---------------------------------------------------------------------------- register pages

def _register_page(cfg: PipelineConfig, st: Stores, source: str, ref: dt.date, guard: _Guard,
                   shared: dict) -> RegisterPage:
    delivered = st.has("restricted", f"std_{source}")
    status = ("delivered" if delivered else
              "configured but not ingested" if source in cfg.extracts else "not delivered")
    page = RegisterPage(source, TITLES[source], status)
    if not delivered:
        page.annex1 = [("Status", f"No standardised records: the register was {status}.")]
        return page

    s, d, a, fq = _fields_sections(cfg, st, source, ref, guard, shared)
    if fq is not None:
        page.records = int(fq["records"][0])
        page.mean_completeness = fq.filter(pl.col("present"))["completeness"].mean()
    c, cov = _coverage_section(cfg, st, source, ref, guard, shared)
    t, tim = _timeliness_section(cfg, st, source, ref, guard, shared)
    v, qr = _register_validation_section(source, shared)
    lsec, shared_links = _register_linkage_section(source, shared)
    checks = [ch for ch in shared.get("checks", []) if source in ch.extra.get("sources", ())]
    csec = Section("coherence", "Coherence with the other registers",
                   "Checks that this register agrees with the others about the same persons.",
                   figures=checks)
    page.sections = [s, d] + ([a] if a is not None else []) + [c, t, v, lsec] + (
        [csec] if checks else [])
    page.annex1 = _annex1_row(cfg, source, fq, cov, tim, qr, shared_links, ref,
                              shared.get("quarantined_rows"))
    return page


def _fields_sections(cfg: PipelineConfig, st: Stores, source: str, ref: dt.date, guard: _Guard,
                     shared: dict) -> tuple[Section, Section, Section | None, pl.DataFrame | None]:
    """Completeness and validity per field, the data types collected and (border register)
    the Annex 2 topics; with the field-quality table the Annex 1 row reads."""
    s = Section("fields", "Completeness and validity per field",
                "Share of records with a value (completeness) and share of those values that "
                "pass the field's validity rule (validity), from the standardised extract.")
    fq = guard(s, fields.field_quality, st, source, ref, cfg.home_country)
    if fq is not None:
        present = fq.filter(pl.col("present"))
        chart = charts.bar_h(present["field"].to_list(), present["completeness"].to_list(),
                             f"Completeness per field, {TITLES[source]}",
                             "Horizontal bars: share of records with a value, one bar per field. "
                             "The table below gives the same figures with validity.",
                             "records with a value")
        s.figures.append(Figure(f"{source}_fields", "Completeness and validity per field",
                                "completeness = filled / records; validity = valid / filled "
                                "(validity rule per field); completeness applicable = filled / "
                                "records the field applies to (e.g. next_country for emigrants); "
                                "counted in DuckDB over the restricted std table", fq,
                                "Annex 1, quality of the data", source, chart))

    d = Section("datatypes", "Data types collected",
                "The kinds of information of Annex 1 footnote 5 that the register carries "
                "(a kind counts when at least one of its fields has a value).")
    if fq is not None:
        dtab = fields.data_types(fq)
        d.figures.append(Figure(f"{source}_data_types", "Data types collected",
                                "a footnote-5 kind is collected when any of its fields is "
                                "filled in at least one record", dtab,
                                "Annex 1, data type collected (footnote 5)", source))

    a = a2 = None
    if source == "border_crossings" and fq is not None:
        a = Section("annex2", "Annex 2: topics of the border control register",
                    "Topics A–P of the toolkit's Annex 2: whether the register includes the "
                    "topic and the share of crossings where it is filled (P, other: the "
                    "extract's own extra columns, kept at ingest).")
        a2 = _with_topic_p(fields.annex2_table(fq), guard(a, other_columns, st, source))
        a.figures.append(Figure("border_crossings_annex2", "Annex 2 topics A–P",
                                "topic included = a column for it is delivered and filled in "
                                "at least one record; share filled = lowest completeness of its "
                                "columns (P: records with any extra column filled)", a2,
                                "Annex 2", source))
        shared["annex2"] = a2

    return s, d, a, fq


def _coverage_section(cfg: PipelineConfig, st: Stores, source: str, ref: dt.date, guard: _Guard,
                      shared: dict) -> tuple[Section, pl.DataFrame | None]:
    """Records by sub-population (and the population register's registration lags)."""
    c = Section("coverage", "Coverage: sub-populations and registration behaviour",
                "Records by sub-population and by the register's own categories. A group under "
                "1 % of records is flagged as excluded (or nearly).")
    cov = guard(c, coverage.coverage, st, source, cfg.home_country)
    if cov is not None:
        c.figures.append(Figure(f"{source}_coverage", "Records by sub-population",
                                f"records grouped by citizenship and country of birth against "
                                f"the home country {cfg.home_country}, sex and the register's "
                                "code lists; share within each dimension", cov,
                                "Annex 1, coverage (sub-population groups included/excluded)",
                                source))
    if source == "population_register":
        lags = guard(c, coherence.registration_lags, st, ref)
        if lags is not None:
            c.figures.append(Figure(
                "population_register_registration_lags",
                "Days from crossing to (de-)registration",
                "for IMMIGRATION registrations: registration date minus the person's latest "
                "ENTRY crossing in the year before (or 30 days after); for EMIGRATION "
                "de-registrations: the same against EXIT crossings; persons via person_links; "
                "only (de-)registrations dated at least a year after the first crossing in the "
                "data; median_days over all lags of the kind",
                lags, "Annex 1, rules for registration / de-registration", source))
        else:
            c.figures.append(_absent("population_register_registration_lags",
                                     "Days from crossing to (de-)registration",
                                     "needs person_links and crossings",
                                     "linkage or crossings not in the warehouse", source=source))
    shared.setdefault("coverage", []).append(cov)

    return c, cov


def _timeliness_section(cfg: PipelineConfig, st: Stores, source: str, ref: dt.date, guard: _Guard,
                        shared: dict) -> tuple[Section, pl.DataFrame | None]:
    """Lags of the event dates to the reference date, and records per month."""
    t = Section("timeliness", "Timeliness",
                f"Lag between the register's event dates and the reference date {ref} "
                "(observed_until in the configuration, else the latest event date). A count "
                "in the last 90 days well below the register's average suggests late recording.")
    tim = guard(t, coverage.timeliness, st, source, ref)
    mon = guard(t, coverage.monthly_counts, st, source, ref)
    if tim is not None:
        t.figures.append(Figure(f"{source}_timeliness", "Timeliness of event dates",
                                "per event-date column: first and last month, days from the last event to the reference date, "
                                "records after it, last-90-days count relative to the average "
                                "90 days of the study period (first crossing to reference date)", tim,
                                "Annex 1, quality of the data (timeliness)", source))
    if mon is not None and mon.height:
        chart = charts.lines(mon.with_columns(pl.col("month").str.to_date("%Y-%m")),
                             "month", "records", "event_date",
                             f"Records per month, {TITLES[source]}",
                             "Line chart of records per month of each event date; the table "
                             "below lists the same counts.", "records")
        wide = mon.pivot(on="event_date", index="month", values="records").sort("month")
        t.figures.append(Figure(f"{source}_monthly", "Records per month of event date",
                                "records counted per calendar month of each event date, from the first "
                                "border crossing (or five years back) to the reference date", wide,
                                "Annex 1, quality of the data (timeliness)", source, chart))
    shared.setdefault("timeliness", []).append(tim)

    return t, tim


def _register_validation_section(source: str, shared: dict) -> tuple[Section, pl.DataFrame | None]:
    """This register's rows of the ingest accounting and the quarantine."""
    v = Section("validation", "Validation and quarantine",
                "Rows read, accepted and quarantined at ingest, and the quarantine by reason.")
    il = shared.get("ingest_log")
    if il is not None and "source" in il.columns:
        v.figures.append(Figure(f"{source}_ingest", "Ingest row accounting",
                                "the warehouse ingest_log rows of this register",
                                il.filter(pl.col("source") == source),
                                "Bangkok workshop conclusions (2019), para 10 (c), data cleaning", source))
    qr = shared.get("quarantine")
    if qr is not None:
        v.figures.append(Figure(f"{source}_quarantine", "Quarantined rows by reason",
                                "quality_quarantine (or the restricted quarantine table) "
                                "counted by reason and column", qr.filter(pl.col("source") == source),
                                "Annex 1, quality of the data", source))
    return v, qr


def _register_linkage_section(source: str, shared: dict) -> tuple[Section, pl.DataFrame | None]:
    """Links of this register's records to the other registers, duplicates, match weights."""
    shared_links = shared.get("links")
    lsec = Section("linkage", "Linkage with the other registers",
                   "Records of this register whose person also has a record in each other "
                   "register, records beyond one per person, and match weights.")
    if shared_links is not None:
        lsec.figures.append(Figure(f"{source}_links", "Records linked to persons in other registers",
                                   "share = records whose person_key also appears in the other "
                                   "register / records", shared_links.filter(
                                       pl.col("source") == source),
                                   "toolkit 6.20-6.21; Bangkok workshop conclusions (2019), para 10 (b)", source))
        dup = shared.get("duplicates")
        if dup is not None:
            lsec.figures.append(Figure(f"{source}_duplicates", "Records per person within the register",
                                       "persons = distinct person_key; records beyond one per "
                                       "person = duplicates (repeat trips for border crossings)",
                                       dup.filter(pl.col("source") == source),
                                       "Bangkok workshop conclusions (2019), para 10 (b)", source))
        mw = shared.get("weights")
        if mw is not None and mw.filter(pl.col("source") == source).height:
            part = mw.filter((pl.col("source") == source) & pl.col("weight_bin").is_not_null())
            chart = charts.histogram(part, "weight_bin", "records", None,
                                     f"Match weights, {TITLES[source]}",
                                     "Bar chart of records per whole-number match weight.",
                                     "match weight (log2 odds)", "records") if part.height else None
            lsec.figures.append(Figure(f"{source}_match_weights", "Match-weight distribution",
                                       "weight = log2(p / (1 - p)) of person_links."
                                       "match_probability, clipped to [-10, 30], floored",
                                       mw.filter(pl.col("source") == source),
                                       "Bangkok workshop conclusions (2019), para 10 (b)", source, chart))
    else:
        lsec.figures.append(_absent(f"{source}_links", "Linkage", "person_links",
                                    "person_links is not in the warehouse (linkage not run)",
                                    source=source))
    return lsec, shared_links


TOPIC_P = "Other (columns of the extract outside the schema, kept as delivered)"


def other_columns(st: Stores, source: str) -> tuple[list[str], float] | None:
    """Annex 2 topic P: the extract's columns outside the schema that ingest kept (in the
    restricted std table's `other_columns`, JSON per record) and the share of records with
    any of them filled; None when the extract had none."""
    table = f"std_{source}"
    if "other_columns" not in st.columns("restricted", table):
        return None
    df = st.sql("restricted", f"""
        SELECT count(*) FILTER (WHERE other_columns IS NOT NULL) AS filled, count(*) AS n,
               list_sort(list_distinct(flatten(list(json_keys(other_columns))
                   FILTER (WHERE other_columns IS NOT NULL)))) AS names
        FROM {table}""")
    n, filled = int(df["n"][0]), int(df["filled"][0])
    names = df["names"].to_list()[0] or []
    return list(names), (filled / n if n else 0.0)


def _with_topic_p(a2: pl.DataFrame, other: tuple[list[str], float] | None) -> pl.DataFrame:
    names, share = other if other is not None else ([], 0.0)
    return pl.concat([a2, pl.DataFrame([{
        "topic": "P", "description": TOPIC_P, "columns": ", ".join(names) or "none delivered",
        "included": "Y" if names and share > 0 else "N", "share_filled": share}])],
        how="vertical_relaxed")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f} %"


ANNEX1_NOT_STATED = "not stated: set annex1.{source}.{key} in the configuration"


def _yn(v) -> str:
    return "Y" if v is True else "N" if v is False else str(v)


def annex1_metadata(cfg, source: str) -> dict:
    """The register's `annex1:` entry of the configuration: what the toolkit's Annex 1 asks
    that the data cannot tell (agency, dissemination, publication, release, sharing)."""
    raw = (getattr(cfg, "raw", None) or {}).get("annex1") or {}
    return raw.get(source) or {}


def _annex1_row(cfg, source, fq, cov, tim, qr, links, ref,
                counted: dict[str, int] | None = None) -> list[tuple[str, str]]:
    """Toolkit Annex 1, the register's row, its columns in the form's order: built from the
    figures where the data tell, from the configuration's `annex1:` entry where they cannot."""
    meta = annex1_metadata(cfg, source)

    def stated(key: str, default: str | None = None) -> str:
        v = meta.get(key)
        if v is None or v == "":
            return default if default is not None else ANNEX1_NOT_STATED.format(source=source, key=key)
        return _yn(v)

    published = {"microdata": "microdata", "aggregated": "aggregated data", "both":
                 "microdata and aggregated data", "none": "neither (internal use only)"}
    row = [("Annex 1 row", f"{REGISTERS[source].annex1_row} — {TITLES[source]}")]
    if fq is not None:
        kinds = fields.data_types(fq).filter(pl.col("collected"))["data_type"].to_list()
        row.append(("Data type collected", "; ".join(kinds) or "none"))
    row.append(("Data available in digital form (Y/N)",
                stated("digital_form", "Y — delivered as an electronic extract")))
    row.append(("Data shared anonymised (Y/N)", stated("shared_anonymised")))
    row.append(("Type of disseminated data", stated("disseminated_data")))
    pub = meta.get("published")
    row.append(("Are microdata or aggregated data published?",
                published.get(pub, pub) if pub else stated("published")))
    row.append(("Frequency of public release", stated("release_frequency")))
    if cov is not None and cov.height:
        n = int(fq["records"][0]) if fq is not None else None
        inc = cov.filter(pl.col("dimension").is_in(["citizenship", "birthplace"]))
        parts = [f"{g}: {_pct(sh)}" for g, sh in zip(inc["group"], inc["share"])]
        excl = cov.filter((pl.col("status") != "included") & ~pl.col("dimension").is_in(
            ["travel_reason", "transport_mode", "direction"]))  # categories, not populations
        ex = [f"{g} ({dim})" for dim, g in zip(excl["dimension"], excl["group"])
              if g not in ("unknown", "not recorded")]
        row.append(("Coverage (sub-populations included/excluded)",
                    f"{n:,} records; " + ", ".join(parts) +
                    (f". Excluded or under 1 %: {', '.join(ex)}" if ex else
                     ". No sub-population group under 1 %")))
    if fq is not None:
        present = fq.filter(pl.col("present") & pl.col("completeness").is_not_null())
        worst = present.filter(pl.col("completeness_applicable").is_not_null()).sort(
            "completeness_applicable").head(1)
        q_text = (f"{counted.get(source, 0):,} rows quarantined at ingest"
                  if counted is not None and (qr is not None or counted)
                  else "quarantine not recorded")
        val = present.filter(pl.col("validity").is_not_null())
        lag = ""
        if tim is not None and tim.height:
            lag = "; last event " + ", ".join(
                f"{r['event_date']} {r['days_last_event_to_reference']} days"
                for r in tim.iter_rows(named=True)) + f" before {ref}"
        row.append(("Quality of the data",
                    f"completeness mean {_pct(present['completeness'].mean())}, lowest where "
                    f"the field applies {worst['field'][0] if worst.height else '–'} "
                    f"({_pct(worst['completeness_applicable'][0] if worst.height else None)} of "
                    f"{worst['applies_to'][0] if worst.height else ''}); validity "
                    f"lowest {_pct(val['validity'].min() if val.height else None)}; "
                    f"{q_text}{lag}"))
    if links is not None:
        lk = links.filter(pl.col("source") == source)
        row.append(("Integration (6.20)", "microdata linkage: " + ", ".join(
            f"{_pct(sh)} linked to {o}" for o, sh in zip(lk["other_source"], lk["share"]))))
    row.append(("Method used for evaluating quality",
                "computed by reglink from the data of this run: field completeness and "
                "validity against the canonical code lists (docs/reference.md#register-extracts), Great "
                "Expectations validation at ingest, probabilistic record linkage across "
                "registers, cross-source coherence checks; see each figure's method"))
    row.append(("NSO has access to micro data (Y/N)",
                stated("nso_microdata_access", "Y — standardised records in the restricted store")))
    row.append(("Name of agency collecting data", stated("agency")))
    return row


# ---------------------------------------------------------------------------- overview

def _prior_weight(cfg: PipelineConfig, m: dict[str, float]) -> float | None:
    """The model's prior (two random records being one person) as a match weight: from the
    linkage summary when it records it, else from the saved model the run used."""
    import json

    p = m.get("probability_two_random_records_match")
    if p is None:
        path = cfg.linkage_model or Path(__file__).resolve().parents[3] / "config" / "linkage" / "model-v1.json"
        try:
            p = json.loads(Path(path).read_text(encoding="utf-8")).get("probability_two_random_records_match")
        except (OSError, ValueError):
            return None
    return linkage.weight_of(float(p)) if p else None


def linkage_section(cfg: PipelineConfig, st: Stores, guard: _Guard, shared: dict) -> Section:
    """The linkage section: a verdict a non-specialist reads in a minute (threshold, expected
    false- and missed-match rates, what they mean for the figures), Splink's usual views as
    static charts, the tables folded below. Other linkage checks add their paragraphs to
    `summary` and their figures to `figures` or `detail`."""
    lk = Section("linkage", "Linkage across registers",
                 "How records of the registers, which share no identifier, were joined into "
                 "persons, and how far the joins can be trusted.")
    metrics = guard(lk, linkage.summary_metrics, st) or {}
    lk.summary = linkage.verdict(metrics)
    thr = metrics.get("threshold", cfg.match_threshold)
    thr_w = linkage.weight_of(thr) if thr is not None else None
    pw = guard(lk, linkage.pair_weights, st)
    if pw is not None and pw.height:
        lk.figures.append(Figure(
            "linkage_pair_weights", "Candidate pairs by match weight, with the threshold",
            "the linkage stage's quality_linkage_match_weights: candidate pairs scored by the "
            "model per whole-number match weight, linked (at or above the threshold) or not",
            pw, "Bangkok workshop conclusions (2019), para 10 (b)", None,
            charts.weight_histogram(pw, thr_w, "Candidate pairs by match weight",
                                    "Stacked bars: candidate pairs per match weight, linked "
                                    "pairs in blue, others in orange; a dashed line marks the "
                                    "threshold. The table has the same counts.")))
    params = guard(lk, linkage.parameters, st)
    if params is not None and params.height:
        lk.figures.append(Figure(
            "linkage_m_u", "What each comparison contributes (m and u per level)",
            "the model's parameters (quality_linkage_parameters): m = share of true matches at "
            "the level, u = share of non-matches, match weight = log2(m / u); a level far more "
            "common among matches pushes a pair towards a link", params,
            "Bangkok workshop conclusions (2019), para 10 (b)", None,
            charts.m_u_levels(params, "m and u probabilities and match weight per comparison level",
                              "Left: paired bars of m and u per comparison level; right: the "
                              "level's match weight. The table has the same numbers.")))
        prior = _prior_weight(cfg, metrics)
        if prior is not None:
            ex = linkage.example_pairs(params, prior)
            lk.figures.append(Figure(
                "linkage_waterfall", "How a pair's match weight adds up (three example pairs)",
                "illustrative pairs built from the model's own levels (no real person): the "
                "prior weight of two random records, plus each comparison's weight at the "
                "stated level; a total above the dashed threshold line is a link", ex,
                "Bangkok workshop conclusions (2019), para 10 (b)", None,
                charts.waterfall(ex, thr_w, "Match weight waterfall for three example pairs",
                                 "Three waterfall panels: bars step from the prior through each "
                                 "comparison's weight to the total; a dashed line marks the "
                                 "threshold. The table lists each step.")))
    shared["links"] = guard(lk, linkage.cross_register_links, st)
    shared["duplicates"] = guard(lk, linkage.within_register_duplicates, st)
    shared["weights"] = guard(lk, linkage.match_weight_histogram, st)
    if shared["links"] is None:
        lk.figures.append(_absent("linkage_cross_register", "Records linked across registers",
                                  "person_links", "person_links is not in the warehouse "
                                  "(linkage not run)"))
        return lk
    lk.detail.append(Figure("linkage_cross_register", "Records linked to persons in other registers",
                            "share = records of the register whose person_key also "
                            "appears in the other register / records of the register",
                            shared["links"], "toolkit 6.20-6.21; Bangkok workshop conclusions (2019), para 10 (b)"))
    lk.detail.append(Figure("linkage_within_register", "Records per person within each register",
                            "persons = distinct person_key per register; records beyond "
                            "one per person = duplicates (repeat trips for crossings, "
                            "renewals for permits)",
                            shared["duplicates"], "Bangkok workshop conclusions (2019), para 10 (b)"))
    mw = shared["weights"]
    if mw is not None:
        scored = mw.filter(pl.col("weight_bin").is_not_null())
        chart = charts.histogram(scored, "weight_bin", "records", "source",
                                 "Match-weight distribution by register",
                                 "Stacked bar chart: records per whole-number match "
                                 "weight, one colour per register.", "match weight (log2 odds)",
                                 "records") if scored.height else None
        lk.detail.append(Figure("linkage_match_weights", "Records by the match weight of their link",
                                "weight = log2(p / (1 - p)) of match_probability, clipped "
                                "to [-10, 30], floored to whole numbers; null = unscored",
                                mw, "Bangkok workshop conclusions (2019), para 10 (b)", None, chart))
    for t, df in (guard(lk, linkage.linkage_quality_tables, st) or {}).items():
        if t in ("quality_linkage_match_weights", "quality_linkage_parameters"):
            continue  # shown above with their charts
        lk.detail.append(Figure(t, f"Linkage stage table {t}",
                                _LINKAGE_TABLE_NOTES.get(t, f"the linkage stage's warehouse table {t}")
                                + " (first rows)", df,
                                "Bangkok workshop conclusions (2019), para 10 (b)"))
    return lk


_LINKAGE_TABLE_NOTES = {
    "quality_linkage_by_citizenship":
        "the model's own estimate, per citizenship, of the persons not exactly recovered (merged "
        "with someone or split): linkage error is not spread evenly, it is highest where many "
        "people share few names, and the figures for those citizenships carry more of it; riskiest "
        "first, the smallest citizenships summed in 'other'. A lower bound: on synthetic registers "
        "with a known truth it found seven to eight of every ten such persons",
}


def _checks(st: Stores, cfg: PipelineConfig, ref: dt.date) -> list[Figure]:
    figs = []
    for ch in coherence.coherence_checks(st, cfg.rule.name, ref):
        figs.append(Figure(f"coherence_{ch.key}", ch.check[0].upper() + ch.check[1:],
                           ch.definition, pl.DataFrame([ch.row()], schema_overrides={"share": pl.Float64}),
                           "toolkit 6.20-6.23; Bangkok workshop conclusions (2019), para 9-10", None,
                           extra={"sources": ch.sources, "examples": ch.examples},
                           hide_columns=("check", "definition")))
    return figs


def collect(cfg: PipelineConfig, st: Stores, strict: bool = False) -> dict:
    """Compute every figure; returns the context the templates render."""
    guard = _Guard(strict)
    ref = coverage.reference_date(st, cfg.observed_until)
    shared: dict = {}
    ov = [_validation_section(st, guard, shared), linkage_section(cfg, st, guard, shared),
          _coherence_section(cfg, st, guard, shared, ref)]
    # the register pages read what the overview's sections computed (shared)
    pages = {s: _register_page(cfg, st, s, ref, guard, shared) for s in SOURCES}
    ov += [_rules_section(cfg, st, guard), _provisional_section(st, guard),
           _accounting_section(st, guard), _births_section(st, guard)]
    return {"ref": ref, "overview": ov, "pages": pages, "errors": guard.errors}


def _absent_unless_failed(section: Section, key: str, title: str, method: str, why: str) -> None:
    """Say why a figure is missing: the stage it needs has not run (a failed computation is
    reported by the guard instead)."""
    if section.error is None:
        section.figures.append(_absent(key, title, method, why))


def _validation_section(st: Stores, guard: _Guard, shared: dict) -> Section:
    """Row accounting at ingest and quarantine, all registers (kept in `shared` for the pages)."""
    v = Section("validation", "Validation and quarantine",
                "Row accounting at ingest and rows quarantined by reason, all registers.")
    shared["ingest_log"] = guard(v, validation.ingest_log, st)
    shared["quarantine"] = guard(v, validation.quarantine_by_reason, st)
    shared["quarantined_rows"] = guard(v, validation.quarantined_rows, st)
    if shared["ingest_log"] is not None:
        v.figures.append(Figure("ingest_log", "Ingest row accounting", "the warehouse ingest_log",
                                shared["ingest_log"], "Bangkok workshop conclusions (2019), para 10 (c)"))
    else:
        v.figures.append(_absent("ingest_log", "Ingest row accounting", "the warehouse ingest_log",
                                 "ingest_log is not in the warehouse (ingest not run)"))
    if shared["quarantine"] is not None:
        v.figures.append(Figure("quarantine_by_reason", "Quarantined rows by reason",
                                "quality_quarantine summed by register, reason and column "
                                "(or the restricted quarantine tables counted)",
                                shared["quarantine"], "Annex 1, quality of the data"))
    return v


def _coherence_section(cfg: PipelineConfig, st: Stores, guard: _Guard, shared: dict,
                       ref: dt.date) -> Section:
    """The cross-source checks (kept in `shared` for the pages)."""
    co = Section("coherence", "Cross-source coherence",
                 "Do the registers agree about the same persons? Counts, the records each check "
                 "could be made on, and pseudonymised examples (person_key only).")
    shared["checks"] = guard(co, _checks, st, cfg, ref) or []
    co.figures = shared["checks"]
    if not co.figures and co.error is None:
        co.figures.append(_absent("coherence", "Cross-source coherence", "",
                                  "needs the crossings table and at least the population "
                                  "register or permits with person_links"))
    return co


def _rules_section(cfg: PipelineConfig, st: Stores, guard: _Guard) -> Section:
    """Events under every preset rule, and the configured one against the warehouse."""
    rs = Section("rules", "Rule sensitivity",
                 "Immigration and emigration by year under each preset residence rule, "
                 "computed by running the rule engine on the warehouse crossings. Provisional "
                 "decisions (windows not yet fully observed) are included and counted apart in "
                 "the downloadable figure.")
    sens = guard(rs, sensitivity.rule_sensitivity, st, cfg.observed_until,
                 sensitivity.rules_to_compare(cfg), cfg.raw, cfg.budget)
    if sens is not None:
        wide = sensitivity.side_by_side(sens)
        tot = sens.group_by(["rule", "year", "event_type"]).agg(pl.col("events").sum())
        chart = charts.lines(tot.with_columns(pl.col("year").cast(pl.String)), "year", "events",
                             "rule", "Migration events by year under each residence rule",
                             "Two line charts, immigration and emigration per year, one line "
                             "per rule preset; the table below has the same numbers.",
                             "events", facet="event_type")
        rs.figures.append(Figure("rule_sensitivity", "Events by year under each rule preset",
                                 "reglink.rules.engine.derive_events on warehouse crossings "
                                 "(id person_key, observed_until from the configuration, "
                                 "initial status seeded from the population register and permit "
                                 "evidence as in the tables stage), "
                                 "once per preset; events counted by year of event date",
                                 wide, "UN Secretary-General report (2020) para 11; Bangkok workshop conclusions (2019), para 16", None, chart,
                                 extra={"long": sens}))
        rs.figures.append(Figure("rule_sensitivity_long", "Events by rule, year, type and "
                                 "provisional flag", "as above, not pivoted", sens,
                                 "UN Secretary-General report (2020) para 11", hidden=True))
        cmp = guard(rs, sensitivity.compare_with_warehouse, st, sens, cfg.rule.name)
        if cmp is not None:
            rs.figures.append(Figure("rule_check_warehouse",
                                     f"Configured rule {cfg.rule.name}: recomputed vs "
                                     "migration_events", "recomputed yearly counts minus the "
                                     "warehouse migration_events counts for the same rule",
                                     cmp, "UN Secretary-General report (2020) annex I"))
    else:
        _absent_unless_failed(rs, "rule_sensitivity", "Rule sensitivity", "",
                              "the warehouse has no crossings table with person_key")
    return rs


def _provisional_section(st: Stores, guard: _Guard) -> Section:
    """Which years are final and which provisional, from the flows table."""
    pv = Section("provisional", "Provisional periods",
                 "Years whose residence windows have not all closed by observed_until are "
                 "provisional: their published estimate is the final events plus the expected "
                 "migrations of the undecided crossings, with a 95 % interval, and is revised "
                 "by later runs (table revisions). Final years are counted events.")
    prov = guard(pv, accounting.provisional_periods, st)
    if prov is not None:
        years = sorted(set(prov.filter(pl.col("status") == "provisional")["year"].to_list()))
        pv.intro += (" Provisional here: " + ", ".join(years) + "." if years
                     else " No period is provisional.")
        pv.figures.append(Figure("provisional_periods", "Immigration and emigration by year: "
                                 "final or provisional", "the warehouse flows table (total "
                                 "breakdown): persons with a final event, expected migrations, "
                                 "estimate and 95 % interval (docs/methods.md section 11)",
                                 prov, "UN Secretary-General's report on migration statistics (2020), annex I"))
    else:
        _absent_unless_failed(pv, "provisional_periods", "Provisional periods", "",
                              "the flows table has no estimate columns (tables not built)")
    return pv


def _accounting_section(st: Stores, guard: _Guard) -> Section:
    """The residual of the demographic accounting identity."""
    ac = Section("accounting", "Stock–flow coherence",
                 "Residual of the accounting identity per subpopulation and year: stock at "
                 "start + immigration − emigration + births − deaths ± citizenship changes − "
                 "stock at end. Zero means stocks and flows agree.")
    res = guard(ac, accounting.accounting_residuals, st)
    if res is not None:
        chart = charts.lines(res, "year", "residual", "subpopulation",
                             "Accounting residual by subpopulation and year",
                             "Line chart of the residual per year, one line per subpopulation, "
                             "with a zero line; the table below has the numbers.", "persons",
                             zero_line=True)
        ac.figures.append(Figure("accounting_residual", "Accounting residual",
                                 "the warehouse accounting table's residual column summed by "
                                 "subpopulation and year; share = residual / stock at end",
                                 res, "UN Secretary-General report (2020) para 25-34", None, chart))
    else:
        _absent_unless_failed(ac, "accounting_residual", "Accounting residual", "",
                              "the warehouse has no accounting table (tables not built)")
    return ac


def _births_section(st: Stores, guard: _Guard) -> Section:
    """Births and whether a parent was found (toolkit table 3.4)."""
    vs = Section("births_parents", "Births and their parents (toolkit table 3.4)",
                 "Births registered in the population register by year, and how many could be "
                 "classified by a parent's country of birth and citizenship: the parent numbers "
                 "are optional columns of the register, resolved to persons by exact match on "
                 "the register's own person numbers.")
    births = guard(vs, vital.births_parents, st)
    if births is not None:
        vs.intro += " " + vital.births_parents_summary(births)
        vs.figures.append(Figure("births_parents", "Births by whether a parent was found",
                                 "the warehouse births table counted by year and parent_link",
                                 births, "UN toolkit to assess national migration data capacity, table 3.4"))
    else:
        _absent_unless_failed(vs, "births_parents", "Births and their parents", "",
                              "the warehouse has no births table (tables not built)")
    return vs


# ---------------------------------------------------------------------------- output

def _provisional_years(figs: list[Figure]) -> frozenset[str]:
    """The years the flows table calls provisional (from the provisional-periods figure)."""
    for f in figs:
        if f.key == "provisional_periods" and f.table is not None and "status" in f.table.columns:
            return frozenset(str(y)[:4] for y in f.table.filter(
                pl.col("status") == "provisional")["year"].to_list())
    return frozenset()


def _all_figures(ctx: dict) -> list[Figure]:
    figs = [f for s in ctx["overview"] for f in [*s.figures, *s.detail]]
    for p in ctx["pages"].values():
        figs += [f for s in p.sections for f in [*s.figures, *s.detail] if f not in figs]
    seen, out = set(), []
    for f in figs:
        if f.key not in seen:
            seen.add(f.key)
            out.append(f)
    return out


WAREHOUSE_TABLES = {  # warehouse table -> figure keys (same columns) concatenated
    "quality_fields": "_fields", "quality_coverage": "_coverage",
    "quality_timeliness": "_timeliness", "quality_annex2": "border_crossings_annex2",
    "quality_cross_links": "linkage_cross_register", "quality_rule_sensitivity": "rule_sensitivity_long",
    "quality_accounting_residual": "accounting_residual", "quality_births_parents": "births_parents",
}


def _write_warehouse(cfg: PipelineConfig, st: Stores, figs: list[Figure]) -> list[str]:
    """Counts-only quality tables for SQL users (no identifiers: checked before writing)."""
    if st.warehouse is None:
        return []
    written = []
    for table, key in WAREHOUSE_TABLES.items():
        parts = []
        for f in figs:
            if f.table is None or not (f.key == key or (key.startswith("_") and f.key.endswith(key))):
                continue
            df = f.table
            if "source" not in df.columns and f.source:
                df = df.with_columns(pl.lit(f.source).alias("source"))
            parts.append(df)
        if parts:
            df = pl.concat(parts, how="diagonal_relaxed")
            bad = [c for c in df.columns if store.is_identifier_column(c)]
            if bad:  # a programming error: never let it reach the warehouse
                raise AssertionError(f"{table}: identifier columns {bad}")
            store.write_table(st.warehouse, table, df)
            written.append(table)
        else:  # not computed this run: drop last run's copy rather than leave it stale
            st.warehouse.execute(f'DROP TABLE IF EXISTS "{table}"')
    checks = [f.table for f in figs if f.key.startswith("coherence_") and f.table is not None]
    if checks:
        store.write_table(st.warehouse, "quality_coherence", pl.concat(checks, how="diagonal_relaxed"))
        written.append("quality_coherence")
    else:
        st.warehouse.execute('DROP TABLE IF EXISTS "quality_coherence"')
    return written


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html"]),
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["page_name"] = page_name
    return env


def build_report(cfg: PipelineConfig, *, strict: bool = False) -> Path:
    """Write `<cfg.reports>/index.html`, one page per register, and `figures/`; return the
    index path. A missing store, register or stage is reported on the page, not raised;
    `strict=True` (tests) raises when a figure that has its inputs fails to compute."""
    out = Path(cfg.reports)
    out.mkdir(parents=True, exist_ok=True)
    figdir = out / "figures"
    st = Stores.open(Path(cfg.warehouse), Path(cfg.restricted_path), cfg.budget)
    try:
        ctx = collect(cfg, st, strict=strict)
        figs = _all_figures(ctx)
        provisional = _provisional_years(figs)
        for f in figs:  # every table shown marks the years still provisional
            f.provisional = provisional
        if figdir.exists():  # last run's figures: a figure not produced now must not linger
            for old in [*figdir.glob("*.json"), *figdir.glob("*.parquet")]:
                old.unlink()
        for f in figs:
            write_figure(f, figdir)
        ctx["warehouse_tables"] = _write_warehouse(cfg, st, figs)
        if st.warehouse is not None:  # Parquet copies beside the tables' (parquet/quality/)
            from reglink.tables.export import export_quality

            export_quality(st.warehouse, cfg.parquet_path)
    finally:
        st.close()
    docs = validation.find_data_docs(out, Path(cfg.warehouse).parent)
    ctx.update(
        cfg=cfg, sources=SOURCES, titles=TITLES, generated=dt.datetime.now(dt.timezone.utc)
        .strftime("%Y-%m-%d %H:%M UTC"), figures=figs,
        data_docs=[validation.relative_link(p, out) for p in docs],
        stores={"warehouse": Path(cfg.warehouse).exists(),
                "restricted": Path(cfg.restricted_path).exists()},
    )
    env = _env()
    index = out / "index.html"
    index.write_text(env.get_template("overview.html").render(**ctx, nav="index"), encoding="utf-8")
    for source, page in ctx["pages"].items():
        (out / page_name(source)).write_text(
            env.get_template("register.html").render(**ctx, page=page, nav=source),
            encoding="utf-8")
    return index
