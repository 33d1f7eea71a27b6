"""Linkage quality figures (warehouse, no identifiers) and the clerical-review sample
(restricted: it shows names side by side so a person can judge the pair)."""
from __future__ import annotations

import polars as pl

from reglink.linkage.link import CLUSTER_EXPECTED, NODE_FIELDS, LinkageResult

# a citizenship with fewer persons is shown within "other": the table reaches the warehouse
BY_GROUP_MIN_PERSONS = 20


def quality_tables(res: LinkageResult) -> dict[str, pl.DataFrame]:
    """quality_linkage_* tables: weights, parameters, cluster sizes, unlinked, summary."""
    thr = res.threshold
    pairs = res.pairs
    weights = (pairs.with_columns(pl.col("match_weight").clip(-10, 40).floor().cast(pl.Int32)
                                  .alias("weight_bin"))
               .group_by("weight_bin")
               .agg(pl.len().alias("pairs"),
                    (pl.col("match_probability") >= thr).sum().alias("accepted_pairs"))
               .sort("weight_bin"))
    # record-level figures in SQL where the records are (res.con), only the counts come out
    sizes = res.con.sql("""
        SELECT records_per_person, registers, count(*) AS persons FROM (
            SELECT person_key, count(*) AS records_per_person, count(DISTINCT source) AS registers
            FROM person_links GROUP BY person_key)
        GROUP BY ALL ORDER BY records_per_person, registers""").pl().with_columns(
        pl.col("records_per_person").cast(pl.UInt32), pl.col("registers").cast(pl.UInt32),
        pl.col("persons").cast(pl.UInt32))
    unlinked = res.con.sql("""
        WITH ns AS (SELECT person_key, count(DISTINCT source) AS ns FROM person_links
                    GROUP BY person_key)
        SELECT source, count(*) AS records, count(DISTINCT person_key) AS persons,
               count(*) FILTER (WHERE ns = 1) AS records_in_no_other_register
        FROM person_links JOIN ns USING (person_key)
        GROUP BY source ORDER BY source""").pl().with_columns(
        (pl.col("records_in_no_other_register") / pl.col("records"))
        .alias("share_in_no_other_register"))
    acc = pairs.filter(pl.col("match_probability") >= thr)
    rej = pairs.filter(pl.col("match_probability") < thr)
    exp_false = float((1 - acc["match_probability"]).sum()) if acc.height else 0.0
    exp_missed = float(rej["match_probability"].sum()) if rej.height else 0.0
    exp_true = float(pairs["match_probability"].sum()) if pairs.height else 0.0
    s = res.stats
    summary = [
        ("records", s["records"], "input records, all registers"),
        ("identities", s["identities"], "distinct identities after collapsing identical records"),
        ("deterministic_pairs", s["deterministic_pairs"], "document + issuing state + compatible DOB"),
        ("model_nodes", s["nodes"], "nodes scored by the probabilistic model"),
        ("given_names_with_learned_spellings", s.get("given_names_with_learned_spellings", 0),
         "given names for which this delivery shows other spellings of one person (inside "
         "deterministic groups): a comparison level of its own"),
        ("surnames_with_learned_spellings", s.get("surnames_with_learned_spellings", 0),
         "the same for surnames (HSU / XU)"),
        ("candidate_pairs", s["candidate_pairs"], "pairs scored (above the minimum weight)"),
        ("registers_jan1_as_year", len(s.get("dob_jan1_as_year", [])),
         "registers whose 1 January dates of birth were read as the year alone: they hold far "
         "more 1 January births than the calendar would, an unknown date written as 1 January ("
         + (", ".join(s.get("dob_jan1_as_year", [])) or "none") + ")"),
        ("blocks_on_one_name", len(s.get("blocking_broad_keys", [])),
         "keys a small delivery also blocks on alone (" + (", ".join(s.get("blocking_broad_keys", []))
                                                          or "none: too many comparisons") + ")"),
        ("accepted_pairs", acc.height, "pairs at or above the threshold"),
        ("persons", s["persons"], "distinct person_key"),
        ("threshold", thr, "clustering match-probability threshold"),
        ("expected_false_match_rate", exp_false / acc.height if acc.height else 0.0,
         "model estimate: sum(1-p) over accepted pairs / accepted pairs"),
        ("expected_missed_match_rate", exp_missed / exp_true if exp_true else 0.0,
         "model estimate: sum(p) over rejected candidates / sum(p) over all candidates"),
        ("expected_exact_share", s.get("expected_exact_share", 1.0),
         "model estimate of persons exactly recovered: mean over persons of the product of "
         "their nodes' match probabilities, each weighed against every other person the node "
         "was compared with"),
        ("clusters_split", s.get("clusters_split", 0),
         "clusters split by evidence against a match (contradicting dates of birth, two "
         "countries of birth, two documents of one state in use at once, travel impossible "
         "for one person, or two register numbers registered at two addresses at once)"),
        ("birth_country_contradicts", float(bool(s.get("cannot_link_birth_country", False))),
         "1 = two countries of birth cannot be one person's (the model and the delivery's "
         "near-certain pairs say a mistyped country is rare), 0 = left to the model"),
        ("dob_typos_tolerated", float(bool(s.get("cannot_link_dob_typos_tolerated", True))),
         "1 = dates of birth one digit apart may be one person's (the model saw such typos), "
         "0 = they contradict"),
        ("split_parts", s.get("split_parts", 0), "persons those clusters were split into"),
        ("split_contradictions", s.get("split_contradictions", 0),
         "contradictions logged between the parts (restricted table linkage_splits)"),
        ("model_trained_this_run", float(res.trained), "1 = trained now, 0 = saved model reused"),
        ("model_reestimated_this_run", float(s.get("model_used") == "re-estimated"),
         "1 = the saved model re-estimated on this delivery (see quality_linkage_model)"),
        ("u_matches_bits", s.get("u_matches_bits", 0.0),
         "largest change of a level's weight (bits) from solving the u sampled on this delivery "
         "for the matches among random pairs; the pairs are scored again from 0.5 bits"),
        ("keys_kept_share", s.get("key_kept_share", 1.0), "previous records keeping their person_key"),
    ]
    summary_df = pl.DataFrame({"metric": [r[0] for r in summary],
                               "value": [float(r[1]) for r in summary],
                               "meaning": [r[2] for r in summary]})
    keys = pl.DataFrame({
        "previous_records": [int(s.get("key_previous_records", 0))],
        "kept_records": [int(s.get("key_kept_records", 0))],
        "kept_share": [float(s.get("key_kept_share", 1.0))],
        "persons": [int(s["persons"])],
    })
    model = pl.DataFrame({
        "model_used": [str(s.get("model_used", "trained" if res.trained else "saved"))],
        "refit_mode": [str(s.get("model_refit_mode", ""))],
        "reason": [str(s.get("model_reason", ""))],
        "u_drift_bits": [s.get("model_u_drift_bits")],
        "m_drift_bits": [s.get("model_m_drift_bits")],
        "model_file": [res.model_path.name if res.model_path else None],
    }, schema_overrides={"u_drift_bits": pl.Float64, "m_drift_bits": pl.Float64})
    splits = res.splits if res.splits is not None and res.splits.height else None
    split_kinds = (splits.with_columns(pl.col("reason").str.extract(r"^(date of birth|documents|travel|register)")
                                       .alias("kind"))
                   .group_by("kind").agg(pl.len().alias("contradictions"),
                                         pl.col("cluster_id").n_unique().alias("clusters"))
                   .sort("kind") if splits is not None else
                   pl.DataFrame(schema={"kind": pl.String, "contradictions": pl.UInt32,
                                        "clusters": pl.UInt32}))
    return {
        "quality_linkage_by_citizenship": expected_by_citizenship(res),
        "quality_linkage_model": model,
        "quality_linkage_splits": split_kinds,
        "quality_linkage_match_weights": weights,
        "quality_linkage_parameters": res.parameters,
        "quality_linkage_clusters": sizes,
        "quality_linkage_unlinked": unlinked,
        "quality_linkage_summary": summary_df,
        "quality_linkage_keys": keys,
    }


def expected_by_citizenship_sql(nodes: str, record_node: str, expected: str,
                                min_persons: int = BY_GROUP_MIN_PERSONS) -> str:
    """SQL: the model's expected persons not exactly recovered, per citizenship (the most
    frequent of a person's nodes; `unknown` when none states one). Linkage errors are not spread
    evenly: people whose names come from a small pool (many namesakes born the same day) are
    merged far more often, so the figures for their citizenship carry more linkage error.
    Citizenships with fewer than `min_persons` persons are summed in `other`."""
    return f"""
        WITH nc AS (SELECT DISTINCT rn.cluster_id, rn.node_id, n.citizenship
                    FROM {record_node} rn JOIN {nodes} n ON n.unique_id = rn.node_id),
             cc AS (SELECT cluster_id, coalesce(mode(citizenship), 'unknown') AS citizenship
                    FROM nc GROUP BY cluster_id),
             g AS (SELECT citizenship, count(*) AS persons, sum(1 - e.p::DOUBLE) AS expected_not_exact
                   FROM cc JOIN {expected} e USING (cluster_id) GROUP BY citizenship),
             f AS (SELECT CASE WHEN persons >= {int(min_persons)} THEN citizenship ELSE 'other' END
                          AS citizenship, persons, expected_not_exact FROM g)
        SELECT citizenship, sum(persons)::BIGINT AS persons,
               sum(expected_not_exact) AS expected_not_exact,
               sum(expected_not_exact) / sum(persons) AS expected_not_exact_share
        FROM f GROUP BY citizenship
        ORDER BY expected_not_exact_share DESC, citizenship"""


def expected_by_citizenship(res: LinkageResult) -> pl.DataFrame:
    """quality_linkage_by_citizenship (expected_by_citizenship_sql), from the tables every
    `link_relations` leaves in its connection."""
    return res.con.sql(expected_by_citizenship_sql(res.node_table, "record_node",
                                                   CLUSTER_EXPECTED)).pl()


def review_sample(res: LinkageResult, band: tuple[float, float] = (0.5, 0.99),
                  size: int = 200) -> pl.DataFrame:
    """Borderline pairs, a reproducible sample, with both sides' fields for a clerk to judge."""
    lo, hi = band
    cand = (res.pairs.filter(pl.col("match_probability").is_between(lo, hi))
            .with_columns(pl.concat_str("node_l", "node_r").hash(seed=3).alias("_h"))
            .sort("_h").head(size).drop("_h"))
    # only the sampled pairs' nodes leave DuckDB (millions of nodes at national scale)
    ids = pl.concat([cand["node_l"], cand["node_r"]]).unique().to_frame("unique_id")
    res.con.register("_review_ids", ids.to_arrow())
    side = res.con.sql(f"SELECT unique_id, source, {', '.join(NODE_FIELDS)} FROM "
                       f"{res.node_table} JOIN _review_ids USING (unique_id)").pl()
    res.con.unregister("_review_ids")
    out = (cand.join(side.rename({c: f"{c}_l" for c in side.columns}),
                     left_on="node_l", right_on="unique_id_l", how="left")
           .join(side.rename({c: f"{c}_r" for c in side.columns}),
                 left_on="node_r", right_on="unique_id_r", how="left")
           .with_columns((pl.col("match_probability") >= res.threshold).alias("accepted"),
                         pl.lit(None, pl.String).alias("clerical_decision")))
    return out.sort("match_probability", descending=True)
