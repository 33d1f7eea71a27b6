"""Compare a warehouse's `migration_events` with the true events of a synthetic world.

    .venv/bin/python bench/bench_events_truth.py WORLD [--warehouse FILE] [--links truth|pipeline]
                                                    [--rule 12-16] [--workdir DIR] [--out results.json]
                                                    [--record]

WORLD is a `reglink synth` folder (truth in truth/events.parquet, truth/record_person.parquet).
With --warehouse, that built warehouse is scored as it is. Without it, the world is built in a
temporary folder: ingest (the real one), then person_links either from the linkage stage
(`--links pipeline`, the default: what production would get) or from the truth (`--links truth`:
isolates the rule and repair from linkage errors), then `reglink.tables.build_tables`.
`--workdir DIR` keeps that build in DIR; run again with the same DIR and links, only the tables
stage is rebuilt (ingest and linkage are reused) — the quick loop for repair experiments.
`--rule` builds the tables under another rule than the world's reglink.yaml names;
`--no-evidence-repair` switches off the register-evidence repair and initial status (the
crossings-only baseline, `tables.evidence_repair: false`).

Scored (the rule the warehouse was built with; truth events of the same rule):
- each predicted person_key is mapped to the true person holding most of its records;
- person-level linkage accuracy (`linkage`: persons exactly recovered, split, merged; pairwise
  precision/recall) and event precision/recall for the persons linked whole and alone
  (`events_of_persons_exact`) apart from those split or merged (`events_of_persons_wrong`);
- event precision/recall on (person, event_type, event_date), exact date; also within +-1 day;
- on the fully observed years only (`fully_observed`): event precision and recall, each missed
  or spurious event put down to linkage (its person split or merged) or to the rule and repair
  (its person linked right), and the censored years' events counted apart; also counted in
  the cell a flow puts them in (person, type, reference year), and how many rule/repair errors
  are one move found on another date (`dated_differently`); the rule/repair errors split by
  cause (`rule_and_repair_causes`: a crossing the border register lost, or the ingest
  quarantined as invalid, in the event's window -- data loss --, else the status before the first recorded crossing -- initial status --, else
  method), from truth/crossings.parquet;
- per year and type: predicted vs true totals and relative error, the gross errors behind it
  (`missed_in_cell`, `spurious_in_cell`: events of a person missing from, or invented in, that
  year and type -- a total is right when as many were invented as missed), and whether the year's windows
  are fully observed (31 December + W - 1 <= observed_until): the 1 % target applies to those;
  also whether the year is left-censored (it starts less than N days after the registers do: an
  emigration whose exit record was lost before the person's first recorded crossing is invisible
  — docs/methods.md section 7.2).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl

RESULTS = Path(__file__).resolve().parent / "results" / "bench_events_truth.jsonl"


def build_world(world: Path, folder: Path, links: str, rule: str | None = None,
                evidence: bool = True) -> Path:
    """Ingest + links + tables for `world` under `folder`; the warehouse path. Ingest and links
    are reused when `folder` already holds them for the same `links`."""
    from reglink.config import load_config
    from reglink.ingest import ingest_all
    from reglink.rules.rule import load_rule
    from reglink.tables import build_tables

    cfg = load_config(world / "reglink.yaml")
    if rule:
        cfg.rule = load_rule(rule)
    if not evidence:
        tables = cfg.raw.get("tables") if isinstance(cfg.raw.get("tables"), dict) else {}
        cfg.raw["tables"] = {**tables, "evidence_repair": False}
    folder.mkdir(parents=True, exist_ok=True)
    cfg.warehouse = folder / "reglink.duckdb"
    cfg.restricted = folder / "reglink.restricted.duckdb"
    cfg.parquet_dir = folder / "parquet"
    stamp = folder / "links.txt"
    reuse = (stamp.exists() and stamp.read_text() == f"{world.resolve()} {links}"
             and cfg.warehouse.exists() and cfg.restricted_path.exists())
    t0 = time.perf_counter()
    if not reuse:
        stamp.unlink(missing_ok=True)
        ingest_all(cfg)
    t1 = time.perf_counter()
    if reuse:
        pass
    elif links == "truth":
        rp = pl.read_parquet(world / "truth" / "record_person.parquet")
        pl_links = rp.select("source", pl.col("record_id").cast(pl.String),
                             pl.col("person_id").cast(pl.String).alias("person_key"),
                             pl.lit(1.0).alias("match_probability"))
        con = duckdb.connect(str(cfg.warehouse))
        con.register("_l", pl_links)
        con.execute("CREATE OR REPLACE TABLE person_links AS SELECT * FROM _l")
        con.close()
    else:
        from reglink.linkage import link_persons

        link_persons(cfg)
    stamp.write_text(f"{world.resolve()} {links}")
    t2 = time.perf_counter()
    counts = build_tables(cfg)
    t3 = time.perf_counter()
    print(f"built in {folder}: ingest {t1 - t0:.1f}s, links ({links}) {t2 - t1:.1f}s, "
          f"tables {t3 - t2:.1f}s; migration_events {counts['migration_events']}", file=sys.stderr)
    return cfg.warehouse


def score(world: Path, warehouse: Path) -> dict:
    """Precision, recall and yearly total errors of `migration_events` against the truth."""
    truth_world = json.loads((world / "truth" / "world.json").read_text())
    until = dt.date.fromisoformat(truth_world["observed_until"])
    con = duckdb.connect(str(warehouse), read_only=True)
    pred = con.sql("SELECT person_key, event_type, event_date, provisional, rule FROM migration_events").pl()
    links = con.sql("SELECT source, CAST(record_id AS VARCHAR) AS record_id, person_key FROM person_links").pl()
    con.close()
    rule = pred["rule"][0] if pred.height else "12-16"
    from reglink.rules.rule import load_rule

    r = load_rule(rule)
    window = r.window_days if r.mode == "cumulative" else r.threshold_days
    rp = pl.read_parquet(world / "truth" / "record_person.parquet").select(
        "source", pl.col("record_id").cast(pl.String), pl.col("person_id").cast(pl.String))
    # person_key -> the true person with most of its records
    key_person = (links.join(rp, on=["source", "record_id"], how="inner")
                  .group_by("person_key", "person_id").len()
                  .sort(["person_key", "len", "person_id"], descending=[False, True, False])
                  .group_by("person_key", maintain_order=True).first()
                  .select("person_key", "person_id"))
    # sanity: the share of linked records whose key maps to their own true person (purity); a
    # warehouse built from another world (or an older version of it) scores near 0
    joined = links.join(rp, on=["source", "record_id"], how="inner")
    purity = (joined.join(key_person.rename({"person_id": "major"}), on="person_key")
              .select((pl.col("person_id") == pl.col("major")).mean()).item()) if joined.height else 0.0
    truth = (pl.read_parquet(world / "truth" / "events.parquet")
             .filter(pl.col("rule") == rule)
             .filter(pl.col("event_date") <= until)
             .select(pl.col("person_id").cast(pl.String), "event_type", "event_date"))
    p = pred.join(key_person, on="person_key", how="left").select("person_id", "event_type", "event_date",
                                                                  "provisional")
    keys = ["person_id", "event_type", "event_date"]
    hit = p.join(truth, on=keys, how="semi")
    found = truth.join(p, on=keys, how="semi")
    # within one day (same person and type)
    near = (p.with_row_index("i").join(truth.rename({"event_date": "t_date"}), on=["person_id", "event_type"])
            .filter((pl.col("event_date") - pl.col("t_date")).dt.total_days().abs() <= 1)
            .unique("i"))
    out = {
        "world": str(world), "warehouse": str(warehouse), "rule": rule, "observed_until": str(until),
        "predicted_events": p.height, "true_events": truth.height,
        "precision": round(hit.height / p.height, 4) if p.height else None,
        "recall": round(found.height / truth.height, 4) if truth.height else None,
        "precision_within_1_day": round(near.height / p.height, 4) if p.height else None,
        "final_only_precision": None, "years": [],
        "records_in_truth": round(joined.height / links.height, 4) if links.height else None,
        "key_purity": round(purity, 4),
    }
    # person-level linkage accuracy (reglink.linkage.evaluate), and the events of persons linked
    # whole and alone set apart from those of persons split or merged: what linkage costs
    from reglink.linkage.evaluate import pairwise_metrics, person_status

    from reglink.linkage.evaluate import LOOKALIKE_FIELDS

    persons = pl.read_parquet(world / "truth" / "persons.parquet",
                              columns=["person_id", *LOOKALIKE_FIELDS])
    lm = pairwise_metrics(links, rp, persons=persons, by=persons.select("person_id", "citizenship"))
    out["linkage"] = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in lm.items()}
    st = person_status(links, rp).select(pl.col("t").alias("person_id"), "exact")
    for label, keep in (("persons_exact", True), ("persons_wrong", False)):
        ids = st.filter(pl.col("exact") == keep).select("person_id")
        tp = truth.join(ids, on="person_id", how="semi")
        pp = p.join(ids, on="person_id", how="semi")
        out[f"events_of_{label}"] = {
            "true_events": tp.height, "predicted_events": pp.height,
            "recall": round(tp.join(p, on=keys, how="semi").height / tp.height, 4) if tp.height else None,
            "precision": round(pp.join(truth, on=keys, how="semi").height / pp.height, 4) if pp.height else None}
    out["fully_observed"] = fully_observed(p, truth, st, keys, window, until,
                                           dt.date.fromisoformat(truth_world["start"])
                                           if "start" in truth_world else None, r.threshold_days,
                                           crossings=true_crossings(
                                               world, links.filter(pl.col("source") == "border_crossings")))
    if purity < 0.5 or (links.height and joined.height / links.height < 0.5):
        print(f"warning: the warehouse's person_links do not match {world} (purity {purity:.2f}); "
              "was it built from this world?", file=sys.stderr)
    final = p.filter(~pl.col("provisional"))
    if final.height:
        out["final_only_precision"] = round(final.join(truth, on=keys, how="semi").height / final.height, 4)
    py = p.group_by(pl.col("event_date").dt.year().alias("year"), "event_type").len("predicted")
    ty = truth.group_by(pl.col("event_date").dt.year().alias("year"), "event_type").len("true")
    years = ty.join(py, on=["year", "event_type"], how="full", coalesce=True).fill_null(0).sort("year", "event_type")
    # the gross errors behind each total: true events of a person not matched by one of theirs
    # in the same (type, year) cell, and predicted ones not matched by a true one -- a total
    # can be right because as many were invented as were missed
    yr = pl.col("event_date").dt.year().alias("year")
    cell = (p.group_by("person_id", "event_type", yr).len("n_p")
            .join(truth.group_by("person_id", "event_type", yr).len("n_t"),
                  on=["person_id", "event_type", "year"], how="full", coalesce=True).fill_null(0)
            .with_columns((pl.col("n_t").cast(pl.Int64) - pl.col("n_p").cast(pl.Int64)).alias("_d"))
            .group_by("year", "event_type").agg(
                pl.col("_d").clip(lower_bound=0).sum().alias("missed_in_cell"),
                (-pl.col("_d")).clip(lower_bound=0).sum().alias("spurious_in_cell")))
    years = years.join(cell, on=["year", "event_type"], how="left").with_columns(
        pl.col("missed_in_cell", "spurious_in_cell").fill_null(0)).sort("year", "event_type")
    start = dt.date.fromisoformat(truth_world["start"]) if "start" in truth_world else None
    for row in years.iter_rows(named=True):
        full = dt.date(row["year"], 12, 31) + dt.timedelta(days=window - 1) <= until
        # the registers start inside the year's first N days of history: a resident who left
        # early in the year, whose exit was lost and who had no earlier crossing, cannot be seen
        left = start is not None and dt.date(row["year"], 1, 1) < start + dt.timedelta(days=r.threshold_days)
        err = (row["predicted"] - row["true"]) / row["true"] if row["true"] else None
        out["years"].append({**row, "relative_error": None if err is None else round(err, 4),
                             "fully_observed": full, "left_censored": left})
    return out


def _dated_differently(missed: pl.DataFrame, spurious: pl.DataFrame) -> dict:
    """Missed and spurious events of one person and type paired by nearest date (each used
    once): how many of the rule-and-repair errors are one move dated differently, and by how
    much (a lost crossing replaced by the register's date, a stay cut at another crossing)."""
    pairs = (missed.with_row_index("m").join(spurious.with_row_index("s").rename({"event_date": "s_date"}),
                                            on=["person_id", "event_type"])
             .with_columns((pl.col("s_date") - pl.col("event_date")).dt.total_days().alias("days"))
             .filter(pl.col("days").abs() <= 366)
             .sort(pl.col("days").abs(), "m", "s")
             .unique("m", keep="first", maintain_order=True).unique("s", keep="first", maintain_order=True))
    days = pairs["days"].abs()
    return {"events": pairs.height, "missed": missed.height, "spurious": spurious.height,
            "median_days": int(days.median()) if pairs.height else None,
            "within_31_days": int((days <= 31).sum()),
            "same_year": int((pairs["event_date"].dt.year() == pairs["s_date"].dt.year()).sum())}


def true_crossings(world: Path, linked: pl.DataFrame | None = None) -> pl.DataFrame | None:
    """Every true crossing in the data period (`person_id`, `crossing_date`, `recorded`), from
    truth/crossings.parquet; None for a world without it. With `linked` (the `record_id`s of the
    border records in the warehouse's person_links), a record the ingest quarantined (an invalid
    date or code: it never reached the rules) counts as not recorded, like one the register
    lost; `quarantined` flags them."""
    path = world / "truth" / "crossings.parquet"
    if not path.exists():
        return None
    tc = (pl.read_parquet(path, columns=["person_id", "crossing_date", "observed", "recorded", "record_id"])
          .filter(pl.col("observed")))
    kept = (pl.col("record_id").cast(pl.String).is_in(linked["record_id"].cast(pl.String).implode())
            if linked is not None else pl.lit(True))
    return tc.select(pl.col("person_id").cast(pl.String), "crossing_date",
                     (pl.col("recorded") & kept).alias("recorded"),
                     (pl.col("recorded") & ~kept).alias("quarantined"))


def lost_in_window(events: pl.DataFrame, crossings: pl.DataFrame, window: int) -> pl.Series:
    """For each event (person_id, event_date): does its true person have a crossing the border
    register lost (in the data period, not recorded) inside the event's window? The window is
    [date - W, date + W], widened to the recorded crossings that enclose it: a lost crossing
    between two recorded ones is imputed somewhere in that gap, so it can move an event anywhere
    in it. Such an error comes from information the registers do not hold."""
    if events.height == 0:
        return pl.Series("lost", [], pl.Boolean)
    ev = events.select("person_id", "event_date").with_row_index("_i").with_columns(
        (pl.col("event_date") - pl.duration(days=window)).alias("_lo"),
        (pl.col("event_date") + pl.duration(days=window)).alias("_hi"))
    rec = crossings.filter("recorded").select("person_id", pl.col("crossing_date").alias("_d"))
    j = ev.join(rec, on="person_id", how="left")
    lo = j.filter(pl.col("_d") <= pl.col("_lo")).group_by("_i").agg(pl.col("_d").max().alias("_lo2"))
    hi = j.filter(pl.col("_d") >= pl.col("_hi")).group_by("_i").agg(pl.col("_d").min().alias("_hi2"))
    ev = (ev.join(lo, on="_i", how="left").join(hi, on="_i", how="left")
          .with_columns(pl.coalesce("_lo2", pl.lit(dt.date.min)).alias("_lo"),
                        pl.coalesce("_hi2", pl.lit(dt.date.max)).alias("_hi")))
    lost = crossings.filter(~pl.col("recorded")).select("person_id", pl.col("crossing_date").alias("_d"))
    hit = (ev.join(lost, on="person_id").filter((pl.col("_d") > pl.col("_lo")) & (pl.col("_d") < pl.col("_hi")))
           .select("_i").unique())
    return ev.select(pl.col("_i").is_in(hit["_i"].implode()).alias("lost"))["lost"]


def on_first_crossing(events: pl.DataFrame, crossings: pl.DataFrame) -> pl.Series:
    """For each event (person_id, event_date): is it on or before its true person's first
    recorded crossing? Then it turns on the status before that crossing (the initial status),
    which only the registers' state at the data start can tell."""
    first = (crossings.filter("recorded").group_by("person_id")
             .agg(pl.col("crossing_date").min().alias("_first")))
    return (events.select("person_id", "event_date").join(first, on="person_id", how="left",
                                                          maintain_order="left")
            .select((pl.col("event_date") <= pl.col("_first")).fill_null(False).alias("first"))["first"])


def fully_observed(p: pl.DataFrame, truth: pl.DataFrame, status: pl.DataFrame, keys: list[str],
                   window: int, until: dt.date, start: dt.date | None, threshold_days: int,
                   crossings: pl.DataFrame | None = None) -> dict:
    """Per-person event precision and recall on the fully observed years only, and what the
    remaining errors come from.

    A year is fully observed when its events' windows close before the registers end (31
    December + window - 1 <= observed_until) and it is not left-censored (it starts at least
    the rule's threshold after the registers do). Events of the other years are censoring
    (provisional and last years, window truncation, the registers' start): counted apart.
    Inside the fully observed years a missed or spurious event is put down to linkage when its
    person is split or merged, else to the rule and its repair of lost crossings (the person
    linked whole and alone). With the true `crossings`, the rule-and-repair errors are split
    further (`rule_and_repair_causes`): `lost_crossing` when the border register lost (or the
    ingest quarantined) a crossing
    of that person in the event's window (`lost_in_window`: information the registers do not
    hold, the repair can only estimate it); else `initial_status` when the event is on the
    person's first recorded crossing (it turns on the status before the data start:
    `on_first_crossing`); else `method` (the rule or the repair read the records wrong); and the
    precision and recall the rule and repair would reach if the registers had lost nothing near
    the errors (`*_without_lost`)."""
    def full(y: int) -> bool:
        right = dt.date(y, 12, 31) + dt.timedelta(days=window - 1) <= until
        left = start is not None and dt.date(y, 1, 1) < start + dt.timedelta(days=threshold_days)
        return right and not left

    years = sorted({d.year for d in truth["event_date"].to_list()} | {d.year for d in p["event_date"].to_list()})
    keep = [y for y in years if full(y)]
    yr = pl.col("event_date").dt.year()
    tf, pf = truth.filter(yr.is_in(keep)), p.filter(yr.is_in(keep))
    exact = status.filter(pl.col("exact")).select("person_id")
    hit_p = pf.join(tf, on=keys, how="semi")
    hit_t = tf.join(pf, on=keys, how="semi")
    missed = tf.join(pf, on=keys, how="anti")
    spurious = pf.join(tf, on=keys, how="anti")

    def cause(f: pl.DataFrame) -> dict:
        linked_right = f.join(exact, on="person_id", how="semi").height
        return {"linkage": f.height - linked_right, "rule_and_repair": linked_right}

    te, pe = tf.join(exact, on="person_id", how="semi"), pf.join(exact, on="person_id", how="semi")
    cens_t = truth.filter(~yr.is_in(keep))
    # the same, counted where a flow counts an event: person, type and reference year (an event
    # found on another day of the same year is in the right cell); multiset, so two moves of
    # one type in a year need two
    cell = ["person_id", "event_type", "year"]
    cp = pf.group_by(pl.col("person_id"), "event_type", yr.alias("year")).len("n_p")
    ct = tf.group_by(pl.col("person_id"), "event_type", yr.alias("year")).len("n_t")
    both = cp.join(ct, on=cell, how="full", coalesce=True).fill_null(0)
    in_cell = both.select(pl.min_horizontal("n_p", "n_t").sum()).item()
    causes = None
    if crossings is not None:
        m_right = missed.join(exact, on="person_id", how="semi")
        s_right = spurious.join(exact, on="person_id", how="semi")
        def split(f: pl.DataFrame) -> dict:
            lost = lost_in_window(f, crossings, window)
            first = on_first_crossing(f, crossings)
            n_lost, n_first = int(lost.sum()), int((first & ~lost).sum())
            return {"lost_crossing": n_lost, "initial_status": n_first,
                    "method": f.height - n_lost - n_first}
        mc, sc = split(m_right), split(s_right)
        ml, sl = mc["lost_crossing"], sc["lost_crossing"]
        causes = {"missed": mc, "spurious": sc,
                  "precision_without_lost": round(hit_p.height / (pf.height - sl), 4) if pf.height > sl else None,
                  "recall_without_lost": round(hit_t.height / (tf.height - ml), 4) if tf.height > ml else None}
    return {
        "years": keep, "true_events": tf.height, "predicted_events": pf.height,
        "rule_and_repair_causes": causes,
        "precision": round(hit_p.height / pf.height, 4) if pf.height else None,
        "recall": round(hit_t.height / tf.height, 4) if tf.height else None,
        "missed": cause(missed), "spurious": cause(spurious),
        "precision_same_year": round(in_cell / pf.height, 4) if pf.height else None,
        "recall_same_year": round(in_cell / tf.height, 4) if tf.height else None,
        # rule-and-repair errors that are one event found on another date: a missed event of a
        # person linked right with a spurious one of the same type within 366 days
        "dated_differently": _dated_differently(missed.join(exact, on="person_id", how="semi"),
                                                spurious.join(exact, on="person_id", how="semi")),
        # the same for the persons linked whole and alone: what the rule and repair reach
        "precision_persons_exact": round(pe.join(te, on=keys, how="semi").height / pe.height, 4) if pe.height else None,
        "recall_persons_exact": round(te.join(pe, on=keys, how="semi").height / te.height, 4) if te.height else None,
        # censored years (not fully observed): their true events and the share found
        "censored_years": [y for y in years if y not in keep], "censored_true_events": cens_t.height,
        "censored_recall": round(cens_t.join(p, on=keys, how="semi").height / cens_t.height, 4) if cens_t.height else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("world", type=Path)
    ap.add_argument("--warehouse", type=Path)
    ap.add_argument("--links", choices=["pipeline", "truth"], default="pipeline")
    ap.add_argument("--rule", help="build under this rule (default: the world's reglink.yaml)")
    ap.add_argument("--no-evidence-repair", action="store_true",
                    help="crossings-only repair and initial status (tables.evidence_repair: false)")
    ap.add_argument("--workdir", type=Path, help="keep the build here; reuse its ingest and links")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--record", action="store_true",
                    help=f"append the result to {RESULTS.relative_to(RESULTS.parents[2])}")
    args = ap.parse_args(argv)
    if args.warehouse is None:
        folder = args.workdir or Path(tempfile.mkdtemp(prefix="reglink-bench-"))
        warehouse = build_world(args.world, folder, args.links, args.rule, not args.no_evidence_repair)
    else:
        warehouse = args.warehouse
    res = score(args.world, warehouse)
    res["links"] = args.links if args.warehouse is None else "given"
    print(f"rule {res['rule']}: {res['predicted_events']} predicted, {res['true_events']} true events; "
          f"precision {res['precision']}, recall {res['recall']}, "
          f"precision within 1 day {res['precision_within_1_day']}, final-only precision "
          f"{res['final_only_precision']}; linkage key purity {res['key_purity']}")
    lk = res["linkage"]
    print(f"linkage: {lk['persons_exact']} of {lk['true_persons']} persons exactly recovered "
          f"({100 * lk['exact_share']:.2f} %), {lk['persons_split']} split, {lk['persons_merged']} "
          f"merged ({lk['keys_merged']} keys merged); pairwise precision {lk['precision']:.6f}, "
          f"recall {lk['recall']:.6f}")
    print(f"  look-alikes (another person with the same name, date of birth, sex and citizenship): "
          f"{lk['persons_lookalike']} persons, {lk['persons_merged_lookalike']} of them merged; "
          f"merged share without them {100 * lk['merged_share_without_lookalikes']:.3f} % "
          f"(with them {100 * lk['merged_share']:.3f} %)")
    print(f"  merged per kind of person: look-alikes {100 * lk['merged_share_of_lookalikes']:.1f} % of "
          f"{lk['persons_lookalike']}, near look-alikes (born the same day or on its day/month swap, "
          f"names alike) {100 * lk['merged_share_of_near_lookalikes']:.1f} % of "
          f"{lk['persons_near_lookalike']}, the others {100 * lk['merged_share_of_others']:.3f} %")
    if lk.get("merged_share_standardised") is not None:
        print("  per kind (evaluate.person_kinds): " + ", ".join(
            f"{k.replace('_', ' ')} {100 * v['merged_share']:.3f} % merged of {v['persons']}"
            for k, v in lk["by_kind"].items()))
        print(f"  merged share standardised to the kinds of the 100k standard world "
              f"{100 * lk['merged_share_standardised']:.3f} % (crude {100 * lk['merged_share']:.3f} %)")
    by_cit = sorted(lk.get("by_citizenship", {}).items(), key=lambda kv: -kv[1]["persons"])[:8]
    if by_cit:
        print("  merged per citizenship (largest 8): " + ", ".join(
            f"{c} {100 * v['merged'] / v['persons']:.3f} % of {v['persons']}" for c, v in by_cit))
    for label in ("persons_exact", "persons_wrong"):
        e = res[f"events_of_{label}"]
        print(f"events of {label.replace('_', ' ')}: {e['true_events']} true, precision "
              f"{e['precision']}, recall {e['recall']}")
    fo = res["fully_observed"]
    print(f"fully observed years {fo['years']}: {fo['true_events']} true events, precision "
          f"{fo['precision']}, recall {fo['recall']}; missed: {fo['missed']['linkage']} linkage, "
          f"{fo['missed']['rule_and_repair']} rule/repair; spurious: {fo['spurious']['linkage']} "
          f"linkage, {fo['spurious']['rule_and_repair']} rule/repair; persons linked right: precision "
          f"{fo['precision_persons_exact']}, recall {fo['recall_persons_exact']}; censored years "
          f"{fo['censored_years']}: {fo['censored_true_events']} true events, recall {fo['censored_recall']}")
    dd = fo["dated_differently"]
    print(f"  in the year's cell (person, type, year): precision {fo['precision_same_year']}, recall "
          f"{fo['recall_same_year']}; of the rule/repair errors, {dd['events']} are one move dated "
          f"differently (median {dd['median_days']} days, {dd['within_31_days']} within 31 days, "
          f"{dd['same_year']} in the same year)")
    rc = fo.get("rule_and_repair_causes")
    if rc:
        print(f"  rule/repair errors by cause: missed {rc['missed']['lost_crossing']} with a lost crossing in "
              f"the window (data loss), {rc['missed']['initial_status']} on the first recorded crossing "
              f"(initial status), {rc['missed']['method']} other (method); spurious "
              f"{rc['spurious']['lost_crossing']} data loss, {rc['spurious']['initial_status']} initial status, "
              f"{rc['spurious']['method']} method; without the data-loss errors: precision "
              f"{rc['precision_without_lost']}, recall {rc['recall_without_lost']}")
    print(f"{'year':>6} {'type':<12} {'true':>7} {'pred':>7} {'rel.err':>8}  fully observed  "
          "left-censored  missed/spurious in the cell")
    for y in res["years"]:
        e = "" if y["relative_error"] is None else f"{100 * y['relative_error']:+.2f}%"
        print(f"{y['year']:>6} {y['event_type']:<12} {y['true']:>7} {y['predicted']:>7} {e:>8}  "
              f"{str(y['fully_observed']):<14}  {str(y['left_censored']):<13}  "
              f"{y['missed_in_cell']}/{y['spurious_in_cell']}")
    if args.out:
        args.out.write_text(json.dumps(res, indent=2, default=str))
    if args.record:
        record(res)
    return 0


def record(res: dict) -> None:
    """One line in bench/results/bench_events_truth.jsonl: when, which world and links, the scores."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    line = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **{k: v for k, v in res.items() if k != "warehouse"}}
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
