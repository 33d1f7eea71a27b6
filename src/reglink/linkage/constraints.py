"""Clustering that respects evidence against a match (cannot-link constraints).

Splink's scores add evidence for and against a match pair by pair; connected components then
chain pairs into persons, so two people who never scored as a match can still end in one
cluster through a third record that matches both (two JOHN SMITHs born in 1946, each linked to
a crossing that has only the birth year). A cluster may therefore not hold two records whose
strong identifiers contradict:

- two different complete dates of birth, unless one is a typo of the other (one character
  differs, or two adjacent characters are swapped, in YYYYMMDD) or day and month are swapped.
  1 January counts as incomplete (the usual placeholder for an unknown date);
- two document numbers of one issuing state used in overlapping periods (the first to the last
  border crossing on each): a renewal replaces a passport, a twin or a namesake carries their
  own at the same time. Numbers within two characters of each other are typos, not two
  documents.

- two countries of birth, where the model and the delivery say one person's country of birth
  is rarely mistyped (`birth_country_veto_applies`, judged on the delivery as the date is);

- travel that is impossible for one person: two crossings in the same direction on one day
  on two different documents (two entries, or two exits, at once), or two documents used in
  overlapping periods whose crossings, put together, give two entries (or two exits) in a row
  with nothing in between — the second document entering a country the first had not left.
  A renewal (the old document's last crossing before the new one's first) never interleaves.

A register number alone is evidence, not a veto (registers hold their own duplicates), and so
is a different document number seen in another period (a renewal); both are left to the model.

A cluster holding a contradiction is rebuilt from its own edges, never joining two parts that
hold contradicting records, and grown around the records that carry a contradiction (anchors:
a date of birth, a document or a travel sequence that contradicts another record of the
cluster):
1. anchors merge strongest edge first among themselves: set-based rounds in which every part
   proposes its strongest remaining edge to a part it does not contradict, and parts whose
   proposals are mutual merge (the strongest edge left is always mutual, so each round merges);
2. every other record (free: it contradicts nothing in the cluster, so it may join any part)
   joins the anchored part it has the strongest edge to, in rounds, those reached only through
   other free records later;
3. whatever is left merges as in 1, over all edges.
Step 2 comes before free records merge among themselves because the strongest edge of a
disputed cluster can join two undisputed records of two people: twins' register records at one
address (+25 bits for address, postcode and locality), which strongest-first merged before
either met its twin's passport, so one passport's part took both. Every contradiction left
between two parts of a former cluster is logged as a split.

Only clusters with a contradiction are touched; their nodes and edges are a small share of all,
handled as polars frames (no loop over rows: each round is a few joins).
"""
from __future__ import annotations

import logging

import polars as pl

from reglink.linkage.prepare import register_of_sql
from reglink.linkage.stats import share_lower_bound

log = logging.getLogger(__name__)

MAX_ROUNDS = 500


def _dob_key() -> pl.Expr:
    """YYYYMMDD of a complete date of birth (not 1 January), else null."""
    y, m, d = pl.col("dob_year"), pl.col("dob_month"), pl.col("dob_day")
    complete = y.is_not_null() & m.is_not_null() & d.is_not_null() & ~((m == 1) & (d == 1))
    return (pl.when(complete)
            .then(pl.format("{}{}{}", y.cast(pl.String).str.zfill(4), m.cast(pl.String).str.zfill(2),
                            d.cast(pl.String).str.zfill(2)))
            .otherwise(None))


def dob_contradicts(a: pl.Expr, b: pl.Expr, typos: bool = True) -> pl.Expr:
    """Two complete dates of birth (YYYYMMDD text) that cannot be one person's: different, not
    one typo apart (one character, or two adjacent ones swapped), not day/month swapped.
    `typos`: False where the model says one person's dates are not mistyped digit by digit
    (`dob_typos_tolerated`): then only a day/month swap is one person's."""
    ch = [(a.str.slice(i, 1), b.str.slice(i, 1)) for i in range(8)]
    mism = pl.sum_horizontal([(x != y).cast(pl.Int32) for x, y in ch])
    transposed = pl.any_horizontal([(ch[i][0] == ch[i + 1][1]) & (ch[i + 1][0] == ch[i][1])
                                    & (ch[i][0] != ch[i][1]) for i in range(7)])
    swapped = ((a.str.slice(0, 4) == b.str.slice(0, 4)) & (a.str.slice(4, 2) == b.str.slice(6, 2))
               & (a.str.slice(6, 2) == b.str.slice(4, 2)))
    if not typos:
        return (mism > 0) & ~swapped
    return (mism > 1) & ~((mism == 2) & transposed) & ~swapped


def contradicting_pairs(pairs: pl.DataFrame, nodes: pl.DataFrame, typos: bool = True) -> pl.DataFrame:
    """The scored pairs (node_l, node_r) whose complete dates of birth contradict
    (`dob_contradicts`): the two nodes cannot be one person's, whatever their match weight.
    `nodes`: unique_id and DOB_EVIDENCE."""
    key = nodes.select(pl.col("unique_id"), _dob_key().alias("dob")).drop_nulls("dob")
    return (pairs.select("node_l", "node_r")
            .join(key.rename({"unique_id": "node_l", "dob": "dob_l"}), on="node_l")
            .join(key.rename({"unique_id": "node_r", "dob": "dob_r"}), on="node_r")
            .filter(dob_contradicts(pl.col("dob_l"), pl.col("dob_r"), typos))
            .select("node_l", "node_r"))


# A wholly different date of birth vetoes a match only where the model says one person's dates
# rarely differ wholly: the m probability of the date comparison's "else" level (the share of
# true matches whose dates are neither equal, partial, swapped nor a typo apart) below this.
# Our registers: 0.002 (the floor); FEBRL, whose corruptor replaces whole dates: 0.04.
DOB_VETO_MAX_M = 0.01


def comparison_of(model: dict, name: str) -> dict | None:
    """The comparison `name` (its output column) of a Splink settings dict, if it has one."""
    return next((c for c in model.get("comparisons", []) if c.get("output_column_name") == name),
                None)


def else_level_m(model: dict, comparison: str) -> float | None:
    """The m of `comparison`'s "else" level -- its last non-null one; None where the model has
    no such comparison, no levels or no m."""
    comp = comparison_of(model, comparison)
    levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")] if comp else []
    return levels[-1].get("m_probability") if levels else None


def dob_veto_applies(model: dict) -> tuple[bool, float | None]:
    """Whether contradicting dates of birth may veto a match under `model` (Splink settings
    dict with trained m): (applies, m of the birth_date "else" level)."""
    m = else_level_m(model, "birth_date")
    return (m is None or m < DOB_VETO_MAX_M), m


# The saved model's m says how often one person's dates differ wholly in the registers it was
# trained on, not in this delivery (a saved model that fits the delivery is kept). The delivery
# says it too, without labels: among scored pairs that the other fields alone make near-certain
# (weight without the date at least DELIVERY_SURE_BITS, prior included) the share whose dates
# differ wholly estimates that m. Blocking finds such pairs less often than others (most rules
# need a part of the date), so the share is a lower bound. The near-certain pairs also hold
# non-matches, more the larger the population: at 10 bits 1 M synthetic persons showed 0.029
# (namesakes), at 15 bits 0.001 (docs/linkage.md).
# The delivery overrides the model only when it shows a share of DOB_VETO_MAX_M or more with
# 95 % confidence (stats.DELIVERY_CONFIDENCE_Z): the lower bound of the share's one-sided Wilson
# score interval. A fixed number of pairs (200, before) kept the veto on a small delivery
# whatever its pairs showed, and took a share of 0.01 from 200 pairs (2 of them) as proof;
# the bound asks for more pairs the closer the share is to the limit.
DELIVERY_SURE_BITS = 15.0


def level_index_sql(comparison: dict) -> str:
    """SQL: the index of a pair's level in a saved model's `comparison` (0 = its first non-null
    level; NULL at the null level), from the model's own level conditions on `<column>_l` /
    `<column>_r` -- the levels are never written out a second time."""
    whens, i = [], 0
    for lv in comparison["comparison_levels"]:
        cond = lv["sql_condition"].strip()
        if cond.upper() == "ELSE":
            return "CASE " + " ".join(whens) + f" ELSE {i} END"
        whens.append(f"WHEN {cond} THEN {'NULL' if lv.get('is_null_level') else i}")
        i += 0 if lv.get("is_null_level") else 1
    return "CASE " + " ".join(whens) + " END"


DOB_EVIDENCE = ("dob_year", "dob_month", "dob_day", "dob_text")


def delivery_else_share(pairs: pl.DataFrame, evidence: pl.DataFrame, model: dict,
                        comparison: str, fields: tuple[str, ...]) -> tuple[float | None, int]:
    """(share of near-certain pairs at the "else" level of `comparison`, how many such pairs):
    the delivery's own estimate of that level's m (`share_lower_bound` says how sure). A pair is
    near-certain when its weight without this comparison's is DELIVERY_SURE_BITS or more.
    `pairs` (node_l, node_r, match_weight), `evidence` (unique_id and `fields`) per node; the
    pairs' levels come from the model's own comparison (`level_index_sql`). (None, 0) when no
    pair is near-certain without it."""
    import math

    import duckdb

    comp = comparison_of(model, comparison)
    if comp is None or pairs.height == 0:
        return None, 0
    levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
    if not all(lv.get("m_probability") and lv.get("u_probability") for lv in levels):
        return None, 0
    weight = {i: math.log2(lv["m_probability"] / lv["u_probability"]) for i, lv in enumerate(levels)}
    con = duckdb.connect()
    con.register("_pairs", pairs.select("node_l", "node_r", "match_weight").to_arrow())
    con.register("_ev", evidence.select("unique_id", *fields).to_arrow())
    sides = ", ".join(f"{s}.{c} AS {c}_{s}" for s in ("l", "r") for c in fields)
    scored = con.sql(f"""
        SELECT match_weight, {level_index_sql(comp)} AS level FROM (
            SELECT p.match_weight, {sides} FROM _pairs p
            JOIN _ev l ON l.unique_id = p.node_l JOIN _ev r ON r.unique_id = p.node_r)""").pl()
    con.close()
    sure = (scored.filter(pl.col("level").is_not_null())
            .filter((pl.col("match_weight") - pl.col("level").replace_strict(weight, return_dtype=pl.Float64))
                    >= DELIVERY_SURE_BITS))
    if sure.height == 0:
        return None, 0
    return float((sure["level"] == len(levels) - 1).mean()), sure.height


def delivery_keeps_veto(pairs: pl.DataFrame, evidence: pl.DataFrame, model: dict,
                        comparison: str, fields: tuple[str, ...], max_m: float
                        ) -> tuple[bool, float | None, int, float | None]:
    """Whether the delivery lets a veto on `comparison` stand: not when its near-certain pairs
    show a share of `max_m` or more at the "else" level with 95 % confidence
    (`delivery_else_share`, `share_lower_bound`). Returns (keeps, share, pairs, lower bound)."""
    share, sure = delivery_else_share(pairs, evidence, model, comparison, fields)
    if share is None:
        return True, None, sure, None
    low = share_lower_bound(round(share * sure), sure)
    return low < max_m, share, sure, low


# A country of birth does not change; two records of one person disagree on it only by a
# keying error. A cluster holding two countries of birth is split like one holding two dates,
# where the model and the delivery agree that such errors are rare: the m of the
# country_of_birth comparison's "else" level at most COB_VETO_MAX_M (EM found no more than
# the floor the model keeps, model.ELSE_M_FLOOR), and the delivery's near-certain pairs not
# showing a share of COB_VETO_MAX_M or more with 95 % confidence (`delivery_else_share`). At a
# million synthetic persons, 94 of the 793 keys that merged people who are not look-alikes
# held two countries of birth (none of the correct keys).
COB_VETO_MAX_M = 0.01


def birth_country_veto_applies(model: dict) -> tuple[bool, float | None]:
    """Whether two countries of birth may veto a match under `model`: (applies, the m of the
    country_of_birth "else" level). No such comparison: it does not apply."""
    m = else_level_m(model, "country_of_birth")
    return (m is not None and m <= COB_VETO_MAX_M), m


def birth_country_contradictions(nodes: pl.DataFrame, clusters: pl.DataFrame) -> pl.DataFrame:
    """Node pairs of one cluster with two different countries of birth: (node_a, node_b,
    reason) with node_a < node_b. `nodes`: unique_id, country_of_birth; `clusters`: node_id,
    cluster_id. Only clusters holding two countries are looked at (a few)."""
    cob = (nodes.select(pl.col("unique_id").alias("node_id"), pl.col("country_of_birth").alias("cob"))
           .drop_nulls().join(clusters.select("node_id", "cluster_id"), on="node_id"))
    two = cob.group_by("cluster_id").agg(pl.col("cob").n_unique().alias("k")).filter(pl.col("k") > 1)
    c = cob.join(two.select("cluster_id"), on="cluster_id", how="semi")
    out = (c.join(c, on="cluster_id", suffix="_b")
           .filter((pl.col("node_id") < pl.col("node_id_b")) & (pl.col("cob") != pl.col("cob_b")))
           .select(pl.col("node_id").alias("node_a"), pl.col("node_id_b").alias("node_b"),
                   pl.format("{} vs {}", "cob", "cob_b").alias("reason"))
           .sort("node_a", "node_b"))
    return out.cast(TRAVEL_SCHEMA) if out.height else pl.DataFrame(schema=TRAVEL_SCHEMA)


# Dates one digit apart are a typo of one date only where the model has seen such typos among
# one person's records: the m probability of the date comparison's "same year, day or month
# differs" or "one digit of the year differs" level at or above this. Where both stay at the m
# floor (0.0002: EM found no such pair among matches; our registers' date errors are partial
# dates, placeholders and day/month swaps), two dates one digit apart are two people's -- at
# 50,000 persons every such pair in one cluster was two namesakes (six clusters), and no true
# person had two complete dates one digit apart.
DOB_TYPO_MIN_M = 0.001
_TYPO_LEVELS = ("same year, day or month differs", "same day and month, one digit of the year differs")


def dob_typos_tolerated(model: dict) -> tuple[bool, float | None]:
    """Whether two complete dates one digit apart may be one person's under `model`:
    (tolerated, the larger m of the two typo levels)."""
    comp = comparison_of(model, "birth_date")
    ms = [lv.get("m_probability") for lv in (comp["comparison_levels"] if comp else [])
          if lv.get("label_for_charts") in _TYPO_LEVELS]
    ms = [m for m in ms if m is not None]
    if not ms:
        return True, None
    return max(ms) >= DOB_TYPO_MIN_M, max(ms)


EVIDENCE_FIELDS = ("unique_id", "dob_year", "dob_month", "dob_day", "document_number_std",
                   "document_country", "first_seen", "last_seen")


def documents_contradict(a: str, b: str) -> pl.Expr:
    """Two documents of one issuing state used in overlapping periods, their numbers more than
    two characters apart. Columns `{a|b}_doc`, `_country`, `_first`, `_last` (use period)."""
    da, db = pl.col(f"{a}_doc"), pl.col(f"{b}_doc")
    same_len = da.str.len_chars() == db.str.len_chars()
    width = 12
    ham = pl.sum_horizontal([(da.str.slice(i, 1) != db.str.slice(i, 1)).cast(pl.Int32)
                             for i in range(width)])
    apart = (same_len & (ham > 2)) | ((da.str.len_chars() - db.str.len_chars()).abs() > 2)
    overlap = ((pl.col(f"{a}_first") <= pl.col(f"{b}_last"))
               & (pl.col(f"{b}_first") <= pl.col(f"{a}_last")))
    return (pl.col(f"{a}_country") == pl.col(f"{b}_country")) & (da != db) & apart & overlap


TRAVEL_SCHEMA = {"node_a": pl.String, "node_b": pl.String, "reason": pl.String}
# node pairs that cannot be one person's, each with the kind of evidence it comes from
# (`travel`, `register`): the split log reads "<kind>: <reason>"
PAIR_EVIDENCE_SCHEMA = {**TRAVEL_SCHEMA, "kind": pl.String}


def pair_evidence(pairs: pl.DataFrame | None, kind: str) -> pl.DataFrame:
    """(node_a, node_b, reason) pairs as PAIR_EVIDENCE_SCHEMA rows of one `kind`."""
    if pairs is None:
        return pl.DataFrame(schema=PAIR_EVIDENCE_SCHEMA)
    if "kind" not in pairs.columns:
        pairs = pairs.with_columns(pl.lit(kind).alias("kind"))
    return pairs.select(*PAIR_EVIDENCE_SCHEMA).cast(PAIR_EVIDENCE_SCHEMA)


def travel_contradictions(con, crossings: str) -> pl.DataFrame:
    """Node pairs whose border crossings cannot be one traveller's (DuckDB SQL, set-based).

    `crossings`: a relation in `con` with (cluster_id, node_id, day, direction, doc) — one row
    per crossing of a node in a cluster that holds more than one node with crossings. Two nodes
    of one cluster with different documents contradict when
    - they crossed in the same direction on the same day (an entry on each document, or an
      exit: one person cannot be in two places at once), or
    - their documents were in use over overlapping periods and, their crossings put together
      in date order, one's crossing follows the other's in the same direction (two entries
      with no exit between) — a traveller who renewed a passport never interleaves the two.
    Returns (node_a, node_b, reason) with node_a < node_b, one reason per pair.
    """
    rows = con.sql(f"""
        WITH x AS (SELECT cluster_id, node_id, day, direction, doc FROM {crossings}
                   WHERE day IS NOT NULL AND direction IN ('ENTRY', 'EXIT')),
        span AS (SELECT node_id, min(day) AS first, max(day) AS last FROM x GROUP BY node_id),
        same_day AS (
            SELECT a.node_id AS node_a, b.node_id AS node_b,
                   min(a.direction || ' on ' || strftime(a.day, '%Y-%m-%d') || ' on documents '
                       || coalesce(a.doc, '?') || ' and ' || coalesce(b.doc, '?')) AS reason
            FROM x a JOIN x b ON a.cluster_id = b.cluster_id AND a.day = b.day
                 AND a.direction = b.direction AND a.node_id < b.node_id
                 AND a.doc IS DISTINCT FROM b.doc
            GROUP BY ALL),
        -- pairs of nodes with different documents in use over overlapping periods
        pairs AS (
            SELECT DISTINCT a.node_id AS node_a, b.node_id AS node_b
            FROM (SELECT DISTINCT cluster_id, node_id, doc FROM x) a
            JOIN (SELECT DISTINCT cluster_id, node_id, doc FROM x) b
              ON a.cluster_id = b.cluster_id AND a.node_id < b.node_id
                 AND a.doc IS DISTINCT FROM b.doc
            JOIN span sa ON sa.node_id = a.node_id JOIN span sb ON sb.node_id = b.node_id
            WHERE sa.first <= sb.last AND sb.first <= sa.last),
        seq AS (
            SELECT p.node_a, p.node_b, x.node_id, x.day, x.direction
            FROM pairs p JOIN x ON x.node_id = p.node_a
            UNION ALL
            SELECT p.node_a, p.node_b, x.node_id, x.day, x.direction
            FROM pairs p JOIN x ON x.node_id = p.node_b),
        lagged AS (
            SELECT *, lag(node_id) OVER w AS prev_node, lag(direction) OVER w AS prev_dir,
                   lag(day) OVER w AS prev_day
            FROM seq WINDOW w AS (PARTITION BY node_a, node_b ORDER BY day, direction, node_id)),
        in_a_row AS (
            SELECT node_a, node_b,
                   min('two ' || direction || ' crossings in a row on two documents: '
                       || strftime(prev_day, '%Y-%m-%d') || ' and ' || strftime(day, '%Y-%m-%d'))
                   AS reason
            FROM lagged
            WHERE prev_node IS NOT NULL AND prev_node <> node_id AND prev_dir = direction
                  AND prev_day < day
            GROUP BY ALL)
        SELECT node_a, node_b, min(reason) AS reason
        FROM (SELECT * FROM same_day UNION ALL SELECT * FROM in_a_row)
        GROUP BY ALL ORDER BY node_a, node_b""").pl()
    return rows.cast(TRAVEL_SCHEMA) if rows.height else pl.DataFrame(schema=TRAVEL_SCHEMA)


def travel_evidence(con, clusters: pl.DataFrame, *, groups: str, nodes: str) -> pl.DataFrame:
    """`travel_contradictions` of the clusters holding more than one node with crossings.

    clusters: (node_id, cluster_id); `groups`: a relation in `con` (node = identity_id,
    label = node_id); `nodes`: one with unique_id and first_seen (null: no crossings). The
    crossings come from `con`'s record-level relations (`linkage_records`, `record_identity`)
    for those clusters' identities only, in SQL."""
    con.register("_travel_cc", clusters.select("node_id", "cluster_id").to_arrow())
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _travel_ident AS
            WITH crossing AS (
                SELECT n.unique_id AS node_id, c.cluster_id
                FROM {nodes} n JOIN _travel_cc c ON c.node_id = n.unique_id
                WHERE n.first_seen IS NOT NULL),
            multi AS (SELECT cluster_id FROM crossing GROUP BY cluster_id HAVING count(*) > 1)
            SELECT g.node AS identity_id, x.node_id, x.cluster_id
            FROM {groups} g JOIN crossing x ON g.label = x.node_id
            WHERE x.cluster_id IN (SELECT cluster_id FROM multi)""")
        con.execute("""CREATE OR REPLACE TEMP TABLE _travel_x AS
            SELECT t.cluster_id, t.node_id, r.seen_on AS day, r.direction,
                   r.document_number_std AS doc
            FROM (SELECT ri.source, ri.record_id, t.cluster_id, t.node_id
                  FROM record_identity ri JOIN _travel_ident t USING (identity_id)) t
            JOIN linkage_records r USING (source, record_id)
            WHERE r.seen_on IS NOT NULL""")
        out = travel_contradictions(con, "_travel_x")
    finally:
        con.unregister("_travel_cc")
        con.execute("DROP TABLE IF EXISTS _travel_x; DROP TABLE IF EXISTS _travel_ident")
    log.info("cannot-link: %d node pairs with impossible travel sequences", out.height)
    return out


# Two registrations in one register that keeps one number per person (the population
# register), under two numbers, at two addresses over overlapping periods: the register itself
# says two people lived at two places at once. A register's own duplicate -- one person keyed
# twice -- is registered at the same address, so the number alone stays evidence (the model's
# level), not a veto; addresses further apart than a few typos (Levenshtein > 3) count as two.
REGISTRATION_ADDRESS_TYPOS = 3


def registration_contradictions_sql(nodes: str, clusters: str) -> str:
    """SQL: node pairs of one cluster (`clusters`: node_id, cluster_id) registered under two
    numbers of one register at two addresses over overlapping periods (`nodes`: unique_id,
    register_number, address_std, registered_from, registered_to). Returns (node_a, node_b,
    reason) with node_a < node_b."""
    return f"""
        WITH r AS (
            SELECT n.unique_id AS node_id, c.cluster_id, n.register_number AS num,
                   {register_of_sql('n.register_number')} AS reg, n.address_std AS addr,
                   n.registered_from AS a, n.registered_to AS b
            FROM {nodes} n JOIN {clusters} c ON c.node_id = n.unique_id
            WHERE n.register_number IS NOT NULL AND n.address_std IS NOT NULL
              AND n.registered_from IS NOT NULL),
        multi AS (SELECT cluster_id FROM r GROUP BY cluster_id HAVING count(DISTINCT num) > 1)
        SELECT x.node_id AS node_a, y.node_id AS node_b,
               'two numbers registered at two addresses at once ('
               || strftime(greatest(x.a, y.a), '%Y-%m-%d') || ')' AS reason
        FROM r x JOIN r y ON x.cluster_id = y.cluster_id AND x.node_id < y.node_id
             AND x.reg = y.reg AND x.num <> y.num AND x.a <= y.b AND y.a <= x.b
             AND levenshtein(x.addr, y.addr) > {REGISTRATION_ADDRESS_TYPOS}
        WHERE x.cluster_id IN (SELECT cluster_id FROM multi)
        ORDER BY node_a, node_b"""


def registration_evidence(con, clusters: pl.DataFrame, *, nodes: str) -> pl.DataFrame:
    """`registration_contradictions_sql` over `clusters` (node_id, cluster_id) and the node
    table `nodes` of `con`, as pair evidence of kind `register` (PAIR_EVIDENCE_SCHEMA)."""
    con.register("_reg_cc", clusters.select("node_id", "cluster_id").to_arrow())
    try:
        out = con.sql(registration_contradictions_sql(nodes, "_reg_cc")).pl()
    finally:
        con.unregister("_reg_cc")
    log.info("cannot-link: %d node pairs registered under two numbers at two addresses at once",
             out.height)
    return pair_evidence(out if out.height else None, "register")


def _conflicting(pe: pl.DataFrame, dobs: pl.DataFrame, docs: pl.DataFrame,
                 travel: pl.DataFrame | None = None, part: pl.DataFrame | None = None,
                 typos: bool = True) -> pl.DataFrame:
    """Part pairs (a, b) of `pe` holding contradicting records: (a, b, reason, node_a, node_b).
    `travel`: contradicting node pairs (node_a, node_b, reason); `part`: (node_id, part)."""
    out = []
    x = pe.select("a", "b").unique()
    if x.height and travel is not None and travel.height and part is not None:
        t = (travel.join(part.rename({"node_id": "node_a", "part": "pa"}), on="node_a")
             .join(part.rename({"node_id": "node_b", "part": "pb"}), on="node_b")
             .select(pl.min_horizontal("pa", "pb").alias("a"), pl.max_horizontal("pa", "pb").alias("b"),
                     pl.concat_str("kind", pl.lit(": "), "reason").alias("reason"),
                     pl.when(pl.col("pa") < pl.col("pb")).then("node_a").otherwise("node_b").alias("node_a"),
                     pl.when(pl.col("pa") < pl.col("pb")).then("node_b").otherwise("node_a").alias("node_b")))
        out.append(x.join(t, on=["a", "b"]).select("a", "b", "reason", "node_a", "node_b"))
    if x.height:
        d = (x.join(dobs.rename({"part": "a", "dob": "dob_a", "node": "node_a"}), on="a")
             .join(dobs.rename({"part": "b", "dob": "dob_b", "node": "node_b"}), on="b")
             .filter(dob_contradicts(pl.col("dob_a"), pl.col("dob_b"), typos))
             .select("a", "b", pl.format("date of birth {} vs {}", "dob_a", "dob_b").alias("reason"),
                     "node_a", "node_b"))
        out.append(d)
        ren = lambda side: {c: f"{side}_{c}" for c in ("doc", "country", "first", "last", "node")}  # noqa: E731
        k = (x.join(docs.rename({"part": "a", **ren("a")}), on="a")
             .join(docs.rename({"part": "b", **ren("b")}), on="b")
             .filter(documents_contradict("a", "b"))
             .select("a", "b", pl.format("documents {} and {} of {} in use at the same time",
                                         "a_doc", "b_doc", "a_country").alias("reason"),
                     pl.col("a_node").alias("node_a"), pl.col("b_node").alias("node_b")))
        out.append(k)
    if not out:
        return pl.DataFrame(schema={"a": pl.String, "b": pl.String, "reason": pl.String,
                                    "node_a": pl.String, "node_b": pl.String})
    return (pl.concat(out).sort("a", "b", "reason", "node_a", "node_b")
            .group_by("a", "b", maintain_order=True).first())


def _part_edges(edges: pl.DataFrame, part: pl.DataFrame) -> pl.DataFrame:
    """The strongest edge between each two parts (a < b, w) of node edges (a, b, w) under the
    node -> part map `part` (node_id, part)."""
    return (edges.join(part.rename({"node_id": "a", "part": "pa"}), on="a")
            .join(part.rename({"node_id": "b", "part": "pb"}), on="b")
            .filter(pl.col("pa") != pl.col("pb"))
            .select(pl.min_horizontal("pa", "pb").alias("a"), pl.max_horizontal("pa", "pb").alias("b"), "w")
            .group_by("a", "b").agg(pl.col("w").max()))


def _both_ways(pe: pl.DataFrame) -> pl.DataFrame:
    """Part edges (a < b, w) seen from each end: (p, q, w) twice per edge."""
    return pl.concat([pe.select(pl.col("a").alias("p"), pl.col("b").alias("q"), "w"),
                      pe.select(pl.col("b").alias("p"), pl.col("a").alias("q"), "w")])


def _relabel(f: pl.DataFrame, moves: pl.DataFrame, col: str = "part") -> pl.DataFrame:
    """`f` with the part ids in `col` moved by `moves` (old, new); one step, no chains."""
    return (f.join(moves.rename({"old": col}), on=col, how="left")
            .with_columns(pl.coalesce("new", col).alias(col)).drop("new"))


def _anchor_nodes(dob: pl.DataFrame, doc: pl.DataFrame, travel: pl.DataFrame,
                  typos: bool = True) -> pl.DataFrame:
    """The nodes that carry a contradiction inside their cluster (node_id): a complete date of
    birth that contradicts another one in the cluster, a document that contradicts another
    document of its state in the cluster, a side of an impossible travel sequence.

    dob: (node_id, dob, cluster_id); doc: (node_id, doc, country, first, last, cluster_id);
    travel: (node_a, node_b, ...). Any other node (a free node) contradicts no record of its
    cluster, so it may join any part of it. Dates are compared as distinct values per
    cluster, documents per cluster and issuing state (a few per person)."""
    v = dob.select("cluster_id", "dob").unique()
    dv = (v.join(v.rename({"dob": "dob_b"}), on="cluster_id")
          .filter((pl.col("dob") < pl.col("dob_b")) & dob_contradicts(pl.col("dob"), pl.col("dob_b"), typos)))
    bad_dob = pl.concat([dv.select("cluster_id", "dob"), dv.select("cluster_id", pl.col("dob_b").alias("dob"))])
    side = lambda s: doc.select("cluster_id", "country", *[pl.col(c).alias(f"{s}_{c}") for c in (  # noqa: E731
        "node_id", "doc", "country", "first", "last")])
    dd = (side("a").join(side("b"), on=["cluster_id", "country"])
          .filter((pl.col("a_node_id") < pl.col("b_node_id")) & documents_contradict("a", "b")))
    return pl.concat([dob.join(bad_dob, on=["cluster_id", "dob"], how="semi").select("node_id"),
                      dd.select(pl.col("a_node_id").alias("node_id")),
                      dd.select(pl.col("b_node_id").alias("node_id")),
                      travel.select(pl.col("node_a").alias("node_id")),
                      travel.select(pl.col("node_b").alias("node_id"))]).unique().sort("node_id")


def _merge_rounds(edges: pl.DataFrame, part: pl.DataFrame, dobs: pl.DataFrame, docs: pl.DataFrame,
                  forbidden: pl.DataFrame, travel: pl.DataFrame, typos: bool
                  ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """Merge parts along `edges` (a, b, w), strongest first, never two that contradict: rounds
    in which every part proposes its strongest edge to a part it does not contradict (ties: the
    smaller partner id) and mutual proposals merge (the strongest edge left is always mutual,
    so every round merges). `forbidden`: part pairs (a < b) known to contradict, kept up to
    date. Returns part, dobs, docs (node -> part; evidence per part), forbidden, rounds."""
    rnd = 0
    for rnd in range(1, MAX_ROUNDS + 1):
        pe = _part_edges(edges, part).join(forbidden, on=["a", "b"], how="anti")
        new_bad = _conflicting(pe, dobs, docs, travel, part, typos).select("a", "b")
        if new_bad.height:
            forbidden = pl.concat([forbidden, new_bad])
            pe = pe.join(new_bad, on=["a", "b"], how="anti")
        if pe.height == 0:
            break
        best = (_both_ways(pe).sort(["p", "w", "q"], descending=[False, True, False])
                .group_by("p", maintain_order=True).first())
        mutual = (best.join(best.select(pl.col("p").alias("q"), pl.col("q").alias("p_back")), on="q")
                  .filter((pl.col("p_back") == pl.col("p")) & (pl.col("p") < pl.col("q")))
                  .select(pl.col("q").alias("old"), pl.col("p").alias("new")))
        if mutual.height == 0:  # cannot happen with a total order on edges; a guard
            break
        part, dobs, docs = (_relabel(f, mutual) for f in (part, dobs, docs))
        forbidden = (_relabel(_relabel(forbidden, mutual, "a"), mutual, "b")
                     .select(pl.min_horizontal("a", "b").alias("a"), pl.max_horizontal("a", "b").alias("b"))
                     .unique())
    else:
        log.warning("cannot-link: stopped after %d rounds; the parts so far are kept", MAX_ROUNDS)
    return part, dobs, docs, forbidden, rnd


def _attach_free(edges: pl.DataFrame, part: pl.DataFrame, dobs: pl.DataFrame, docs: pl.DataFrame,
                 anchors: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int, int]:
    """Attach the parts without an anchor (free parts) to anchored parts: rounds in which every
    free part with an edge to an anchored part joins the one it has the strongest edge to
    (ties: the smaller part id). A free part contradicts nothing in its cluster, so no join
    here can bring a contradiction together; free parts reached only through other free
    parts join in a later round. An anchored part's id is an anchor's node id (merges keep
    the smaller id of two parts, and free parts are only ever relabelled here). Returns part,
    dobs, docs, free parts attached, rounds."""
    attached, rnd = 0, 0
    for rnd in range(1, MAX_ROUNDS + 1):
        pe = _part_edges(edges, part)
        fa = (_both_ways(pe)
              .join(anchors.rename({"node_id": "p"}), on="p", how="anti")
              .join(anchors.rename({"node_id": "q"}), on="q", how="semi"))
        if fa.height == 0:
            break
        attach = (fa.sort(["p", "w", "q"], descending=[False, True, False])
                  .group_by("p", maintain_order=True).first()
                  .select(pl.col("p").alias("old"), pl.col("q").alias("new")))
        attached += attach.height
        part, dobs, docs = (_relabel(f, attach) for f in (part, dobs, docs))
    return part, dobs, docs, attached, rnd


def constrained_clusters(nodes: pl.DataFrame, pairs: pl.DataFrame, clusters: pl.DataFrame,
                         threshold: float, *, dates_of_birth: bool = True,
                         dob_typos: bool = True, travel: pl.DataFrame | None = None
                         ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split clusters holding contradicting records at their weakest links.

    nodes: EVIDENCE_FIELDS (dates of birth; document, issuing state, first and last day seen in
    use); pairs: (node_l, node_r, match_weight,
    match_probability); clusters: (node_id, cluster_id) from connected components at
    `threshold`. Returns the clusters, with the parts of a split cluster as new cluster ids
    (`<cluster_id>~<n>`), and the split log (cluster_id, node_a, node_b, cluster_a, cluster_b,
    reason, weight_between) — one row per contradiction left between two parts.
    `dates_of_birth`: False leaves contradicting dates of birth to the model (registers where
    one person's date is often wholly wrong, see `dob_veto_applies`); `dob_typos`: False
    makes dates one digit apart contradict too (`dob_typos_tolerated`). `travel`: node pairs
    that cannot be one person's (node_a, node_b, reason[, kind]): crossings no traveller makes
    (`travel_contradictions`; kind `travel` where none is given) and two register numbers
    registered at two addresses at once (`registration_evidence`, kind `register`); logged as
    "<kind>: <reason>".
    """
    travel = pair_evidence(travel, "travel")
    empty_log = pl.DataFrame(schema={"cluster_id": pl.String, "node_a": pl.String, "node_b": pl.String,
                                     "cluster_a": pl.String, "cluster_b": pl.String,
                                     "reason": pl.String, "weight_between": pl.Float64})
    dob = (nodes.select(pl.col("unique_id").alias("node_id"), _dob_key().alias("dob"))
           .drop_nulls("dob").join(clusters, on="node_id"))
    if not dates_of_birth:
        dob = dob.head(0)
    doc = (nodes.select(pl.col("unique_id").alias("node_id"), pl.col("document_number_std").alias("doc"),
                        pl.col("document_country").alias("country"),
                        pl.col("first_seen").alias("first"), pl.col("last_seen").alias("last"))
           .drop_nulls().join(clusters, on="node_id"))
    # clusters holding a contradiction: candidates are clusters with more than one complete
    # date of birth, or more than one document of one state; their pairs are then checked
    multi = dob.group_by("cluster_id").agg(pl.col("dob").n_unique().alias("k")).filter(pl.col("k") > 1)
    multi_doc = (doc.group_by("cluster_id", "country").agg(pl.col("doc").n_unique().alias("k"))
                 .filter(pl.col("k") > 1).select("cluster_id").unique())
    node_cluster = clusters.select("node_id", pl.col("cluster_id").alias("part"))
    multi_travel = (travel.join(node_cluster.rename({"node_id": "node_a"}), on="node_a")
                    .select(pl.col("part").alias("cluster_id")))
    cand = pl.concat([multi.select("cluster_id"), multi_doc, multi_travel]).unique()
    cl_dobs = dob.join(cand, on="cluster_id", how="semi").select(
        pl.col("cluster_id").alias("part"), "dob", pl.col("node_id").alias("node"))
    cl_docs = doc.join(cand, on="cluster_id", how="semi").select(
        pl.col("cluster_id").alias("part"), "doc", "country", "first", "last", pl.col("node_id").alias("node"))
    bad = _conflicting(cand.select(pl.col("cluster_id").alias("a"), pl.col("cluster_id").alias("b")),
                       cl_dobs, cl_docs, travel, node_cluster, dob_typos).select(pl.col("a").alias("cluster_id")).unique()
    if bad.height == 0:
        return clusters, empty_log
    vnodes = clusters.join(bad, on="cluster_id", how="semi")
    log.info("cannot-link: %d clusters (%d nodes) hold contradicting records", bad.height, vnodes.height)
    vset = vnodes.select("node_id")
    edges = (pairs.filter(pl.col("match_probability") >= threshold)
             .select(pl.col("node_l").alias("a"), pl.col("node_r").alias("b"), pl.col("match_weight").alias("w"))
             .join(vset.rename({"node_id": "a"}), on="a", how="semi")
             .join(vset.rename({"node_id": "b"}), on="b", how="semi"))
    part = vnodes.select("node_id", pl.col("node_id").alias("part"))           # node -> part
    travel_v = travel.join(vset.rename({"node_id": "node_a"}), on="node_a", how="semi")
    dobs = dob.join(vset, on="node_id", how="semi").select(
        pl.col("node_id").alias("part"), "dob", pl.col("node_id").alias("node"))
    docs = doc.join(vset, on="node_id", how="semi").select(
        pl.col("node_id").alias("part"), "doc", "country", "first", "last", pl.col("node_id").alias("node"))
    # the split grows each part around the records that carry a contradiction (anchors):
    # first the anchors join each other where they do not contradict, then every other record
    # joins the anchored part it matches best directly, and only then do the rest merge --
    # so a strong edge between two undisputed records (twins' register records at one
    # address) cannot put both with one side of the dispute
    anchors = _anchor_nodes(dob.join(vset, on="node_id", how="semi"),
                            doc.join(vset, on="node_id", how="semi"), travel_v, dob_typos)
    anchor_edges = (edges.join(anchors.rename({"node_id": "a"}), on="a", how="semi")
                    .join(anchors.rename({"node_id": "b"}), on="b", how="semi"))
    forbidden = pl.DataFrame(schema={"a": pl.String, "b": pl.String})        # part pairs that contradict
    part, dobs, docs, forbidden, rounds_a = _merge_rounds(anchor_edges, part, dobs, docs, forbidden,
                                                          travel_v, dob_typos)
    part, dobs, docs, attached, rounds_b = _attach_free(edges, part, dobs, docs, anchors)
    part, dobs, docs, forbidden, rounds_c = _merge_rounds(edges, part, dobs, docs, forbidden,
                                                          travel_v, dob_typos)
    rnd = rounds_a + rounds_b + rounds_c
    log.info("cannot-link: %d anchor nodes; %d free parts attached to them", anchors.height, attached)
    # new cluster ids: the former cluster id and the part's rank inside it
    parts = (vnodes.join(part, on="node_id")
             .with_columns(pl.col("part").rank("dense").over("cluster_id").cast(pl.Int64).alias("_n")))
    n_parts = parts.group_by("cluster_id").agg(pl.col("_n").max().alias("parts"))
    parts = (parts.join(n_parts, on="cluster_id")
             .with_columns(pl.when(pl.col("parts") > 1)
                           .then(pl.format("{}~{}", pl.col("cluster_id"), pl.col("_n")))
                           .otherwise(pl.col("cluster_id")).alias("new_cluster")))
    out = (clusters.join(parts.select("node_id", "new_cluster"), on="node_id", how="left")
           .select("node_id", pl.coalesce("new_cluster", "cluster_id").alias("cluster_id")))
    # the log: for each two parts of one former cluster that contradict, one contradiction
    # (its reason and two records) and the strongest edge between the parts (null if none)
    pc = parts.select("node_id", "cluster_id", "new_cluster")
    final_dobs = dobs.drop("part").join(pc.rename({"node_id": "node", "new_cluster": "part"}), on="node")
    final_docs = docs.drop("part").join(pc.rename({"node_id": "node", "new_cluster": "part"}), on="node")
    pp = (pc.select("cluster_id", "new_cluster").unique()
          .join(pc.select("cluster_id", pl.col("new_cluster").alias("nb")).unique(), on="cluster_id")
          .filter(pl.col("new_cluster") < pl.col("nb"))
          .select(pl.col("new_cluster").alias("a"), pl.col("nb").alias("b"), "cluster_id"))
    contra = _conflicting(pp, final_dobs.drop("cluster_id"), final_docs.drop("cluster_id"),
                          travel_v, pc.select("node_id", pl.col("new_cluster").alias("part")), dob_typos)
    between = (edges.join(parts.select(pl.col("node_id").alias("a"), pl.col("new_cluster").alias("ca")), on="a")
               .join(parts.select(pl.col("node_id").alias("b"), pl.col("new_cluster").alias("cb")), on="b")
               .filter(pl.col("ca") != pl.col("cb"))
               .select(pl.min_horizontal("ca", "cb").alias("a"), pl.max_horizontal("ca", "cb").alias("b"), "w")
               .group_by("a", "b").agg(pl.col("w").max().alias("weight_between")))
    split_log = (contra.join(pp, on=["a", "b"]).join(between, on=["a", "b"], how="left")
                 .select("cluster_id", "node_a", "node_b", pl.col("a").alias("cluster_a"),
                         pl.col("b").alias("cluster_b"), "reason", pl.col("weight_between").cast(pl.Float64))
                 .sort("cluster_id", "cluster_a", "cluster_b"))
    log.info("cannot-link: %d clusters split into %d parts (%d rounds)", bad.height,
             parts.select("new_cluster").n_unique(), rnd)
    return out, split_log
