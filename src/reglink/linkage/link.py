"""Person resolution over whichever registers were delivered: frames in, person_links out.

Order of work (docs/linkage.md):
1. align the registers on one set of linkage fields and derive comparison fields;
2. collapse identical identities inside each register (crossings -> travellers);
3. deterministic groups on document number + issuing state + compatible DOB/sex;
4. Splink `link_and_dedupe` over one representative per group (trained without labels, or
   the saved model reused);
5. connected components at `threshold`, mapped back to every input record;
6. stable person keys carried over from the previous run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from splink import DuckDBAPI, Linker
from splink.clustering import cluster_pairwise_predictions_at_threshold

from reglink.linkage import model as mdl
from reglink.linkage.deterministic import connected_components, deterministic_pairs, representatives
from reglink.linkage.keys import assign_keys, key_stability
from reglink.linkage.prepare import add_derived, align, collapse_identities

log = logging.getLogger(__name__)

NODE_FIELDS = (
    "given_names_std", "surname_std", "full_name_std", "given_first", "given_phon", "surname_phon",
    "given_nospace", "surname_nospace", "given_rom", "surname_rom", "given_canon",
    "dob_year", "dob_month", "dob_day", "dob_text", "sex", "citizenship", "country_of_birth",
    "document_number_std", "document_country", "postcode_std", "address_std", "locality_std",
)


@dataclass
class LinkageResult:
    """What one linkage run produced (frames; link_persons also writes them to the stores)."""

    person_links: pl.DataFrame          # source, record_id, person_key, match_probability
    pairs: pl.DataFrame                 # scored candidate pairs between nodes
    nodes: pl.DataFrame                 # one row per Splink node (restricted: has identifiers)
    node_of_record: pl.DataFrame        # source, record_id, identity_id, node_id
    parameters: pl.DataFrame            # comparison, level, m, u, weight
    threshold: float
    model_path: Path | None
    trained: bool
    stats: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, pl.DataFrame] = field(default_factory=dict)
    review: pl.DataFrame | None = None


def link_frames(
    std: dict[str, pl.DataFrame],
    *,
    home_country: str = "NZL",
    threshold: float = 0.9,
    model_path: Path | None = None,
    retrain: bool = False,
    previous_links: pl.DataFrame | None = None,
    seed: int = 42,
    u_max_pairs: float = 2e6,
    predict_min_weight: float = -10.0,
    debug: bool = False,
) -> LinkageResult:
    """Link standardised register frames (source -> std frame) into persons.

    `model_path`: a saved Splink model reused when it exists (unless `retrain`); otherwise the
    model is trained without labels and saved there (when given).
    """
    std = {s: f for s, f in std.items() if f is not None and f.height > 0}
    if not std:
        raise ValueError("no register records to link")
    records = add_derived(pl.concat([align(s, f) for s, f in sorted(std.items())], how="vertical"))
    identities, record_identity = collapse_identities(records)

    db_api = DuckDBAPI()
    con = db_api.duckdb_con
    det = deterministic_pairs(con, identities)
    groups = connected_components(identities["identity_id"], det)
    reps = representatives(identities, groups)  # group_id, identity fields of the representative
    nodes = reps.select(pl.col("group_id").alias("unique_id"), "source",
                        pl.col("n_records"), *NODE_FIELDS)
    group_size = groups.group_by("label").agg(pl.len().alias("identities"))
    nodes = nodes.join(group_size.rename({"label": "unique_id"}), on="unique_id", how="left")

    link_type = "link_and_dedupe" if nodes["source"].n_unique() > 1 else "dedupe_only"
    present = {c for c in NODE_FIELDS if nodes[c].null_count() < nodes.height}
    trained = False
    if model_path is not None and Path(model_path).exists() and not retrain:
        settings: Any = mdl.load_settings(Path(model_path), link_type)
        linker = Linker(_splink_inputs(db_api, nodes), settings, log_level=logging.WARNING)
        # m and u describe the fields and carry over; the prior depends on how many records
        # this delivery has, so it is always estimated on the data at hand
        mdl.estimate_prior(linker, present, nodes.height)
    else:
        # train on distinct identities (before deterministic grouping), predict on nodes
        train_api = DuckDBAPI()
        ident = identities.select(pl.col("identity_id").alias("unique_id"), "source", *NODE_FIELDS)
        t_linker = Linker(_splink_inputs(train_api, ident),
                          mdl.settings_creator(home_country, link_type, debug),
                          log_level=logging.WARNING)
        model = mdl.train(t_linker, seed=seed, max_pairs=u_max_pairs, present=present)
        model["link_type"] = link_type
        model.pop("linker_uid", None)
        linker = Linker(_splink_inputs(db_api, nodes), model, log_level=logging.WARNING)
        mdl.estimate_prior(linker, present, nodes.height)
        trained = True
        if model_path is not None:
            mdl.save_model(linker, Path(model_path))

    pred = linker.inference.predict(threshold_match_weight=predict_min_weight, warning_mode="never")
    pairs = pred.as_duckdbpyrelation().pl()
    pairs = pairs.select(
        pl.col("unique_id_l").alias("node_l"), pl.col("unique_id_r").alias("node_r"),
        "match_weight", "match_probability",
        *[c for c in pairs.columns if c.startswith(("gamma_", "bf_", "tf_"))
          or (debug and c not in ("unique_id_l", "unique_id_r", "match_weight", "match_probability"))],
    )
    # Deterministic groups are already single nodes; Splink edges join nodes into persons.
    cc = cluster_pairwise_predictions_at_threshold(
        nodes.select(pl.col("unique_id").alias("node_id")).to_arrow(),
        pairs.select(pl.col("node_l").alias("node_id_l"), pl.col("node_r").alias("node_id_r"),
                     "match_probability").to_arrow(),
        db_api=db_api, node_id_column_name="node_id", threshold_match_probability=threshold,
    ).as_duckdbpyrelation().pl().select("node_id", "cluster_id")

    node_of_record = (record_identity
                      .join(groups.rename({"node": "identity_id", "label": "node_id"}), on="identity_id")
                      .join(cc, on="node_id", how="left"))
    keyed = assign_keys(node_of_record.select("source", "record_id", "cluster_id"), previous_links)
    prob = record_probability(node_of_record, pairs, threshold)
    person_links = (keyed.join(prob, on=["source", "record_id"], how="left")
                    .select("source", "record_id", "person_key", "match_probability"))

    params = parameters_frame(linker.misc.save_model_to_json())
    stats = {
        "records": records.height, "identities": identities.height,
        "deterministic_pairs": det.height, "nodes": nodes.height,
        "candidate_pairs": pairs.height,
        "persons": person_links["person_key"].n_unique(),
        "link_type": link_type, "sources": sorted(std),
        **{f"key_{k}": v for k, v in key_stability(person_links, previous_links).items()},
    }
    return LinkageResult(
        person_links=person_links, pairs=pairs, nodes=nodes,
        node_of_record=node_of_record.select("source", "record_id", "identity_id", "node_id",
                                             "cluster_id"),
        parameters=params, threshold=threshold, model_path=model_path, trained=trained,
        stats=stats,
    )


def _splink_inputs(db_api: DuckDBAPI, frame: pl.DataFrame) -> Any:
    """One registered Splink table per register (link_and_dedupe), or one table (dedupe)."""
    sources = sorted(frame["source"].unique().to_list())
    tables = [db_api.register(frame.filter(pl.col("source") == s).select("unique_id", *NODE_FIELDS)
                              .to_arrow(), dataset_display_name=s) for s in sources]
    return tables if len(tables) > 1 else tables[0]


def record_probability(node_of_record: pl.DataFrame, pairs: pl.DataFrame,
                       threshold: float) -> pl.DataFrame:
    """Per record: how sure we are it belongs to its person.

    Linked by Splink: the highest match probability of an accepted edge at its node. Only in a
    deterministic group or collapsed with identical records: 1.0. Alone: 1 minus the highest
    probability of any rejected candidate (the chance it should have been linked), else 1.0.
    """
    accepted = pairs.filter(pl.col("match_probability") >= threshold)
    ends = pl.concat([accepted.select(pl.col("node_l").alias("node_id"), "match_probability"),
                      accepted.select(pl.col("node_r").alias("node_id"), "match_probability")])
    best_acc = ends.group_by("node_id").agg(pl.col("match_probability").max().alias("p_acc"))
    rejected = pairs.filter(pl.col("match_probability") < threshold)
    rends = pl.concat([rejected.select(pl.col("node_l").alias("node_id"), "match_probability"),
                       rejected.select(pl.col("node_r").alias("node_id"), "match_probability")])
    best_rej = rends.group_by("node_id").agg(pl.col("match_probability").max().alias("p_rej"))
    multi = (node_of_record.group_by("node_id").agg(pl.len().alias("n_in_node")))
    out = (node_of_record.join(best_acc, on="node_id", how="left")
           .join(best_rej, on="node_id", how="left").join(multi, on="node_id", how="left")
           .with_columns(
               pl.when(pl.col("p_acc").is_not_null()).then(pl.col("p_acc"))
               .when(pl.col("n_in_node") > 1).then(pl.lit(1.0))
               .otherwise(1.0 - pl.col("p_rej").fill_null(0.0))
               .alias("match_probability")))
    return out.select("source", "record_id", "match_probability")


def parameters_frame(model: dict[str, Any]) -> pl.DataFrame:
    """m and u probability and match weight of every comparison level (no identifiers)."""
    import math

    rows = []
    for comp in model["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        for i, lv in enumerate(levels):
            m, u = lv.get("m_probability"), lv.get("u_probability")
            w = math.log2(m / u) if m and u else None
            rows.append({"comparison": comp["output_column_name"], "level_order": i,
                         "level": lv.get("label_for_charts", lv["sql_condition"]),
                         "m_probability": m, "u_probability": u, "match_weight": w,
                         "tf_adjusted": bool(lv.get("tf_adjustment_column"))})
    return pl.DataFrame(rows, schema={
        "comparison": pl.String, "level_order": pl.Int32, "level": pl.String,
        "m_probability": pl.Float64, "u_probability": pl.Float64, "match_weight": pl.Float64,
        "tf_adjusted": pl.Boolean})
