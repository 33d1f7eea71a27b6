"""Person resolution over whichever registers were delivered: frames in, person_links out.

Order of work (docs/linkage.md):
1. align the registers on one set of linkage fields and collapse identical identities inside
   each register (crossings -> travellers), in DuckDB SQL: record-level rows never reach Python;
2. derive the comparison fields on the identities;
3. deterministic groups on document number + issuing state + compatible DOB/sex;
4. Splink `link_and_dedupe` over one representative per group (trained without labels, or
   the saved model reused);
5. connected components at `threshold`, mapped back to every input record (SQL join);
6. stable person keys carried over from the previous run.
"""
from __future__ import annotations

import atexit
import copy
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from reglink import secure
from splink import DuckDBAPI, Linker
from splink.clustering import cluster_pairwise_predictions_at_threshold

from reglink.linkage import model as mdl
from reglink.linkage.constraints import (COB_VETO_MAX_M, DOB_EVIDENCE, DOB_VETO_MAX_M,
                                         EVIDENCE_FIELDS, birth_country_contradictions,
                                         birth_country_veto_applies, constrained_clusters,
                                         contradicting_pairs, delivery_keeps_veto, dob_typos_tolerated,
                                         dob_veto_applies, pair_evidence, registration_evidence,
                                         travel_evidence)
from reglink.linkage.deterministic import connected_components, deterministic_pairs_sql, nodes_table
from reglink.linkage.keys import cluster_keys
from reglink.linkage.prepare import (IDENTITY_TABLE, identities_table, linkage_columns,
                                     learn_spelling_variants)

log = logging.getLogger(__name__)

NODE_FIELDS = (
    "given_names_std", "surname_std", "full_name_std", "given_first", "given_phon", "surname_phon",
    "given_nospace", "surname_nospace", "given_rom", "surname_rom", "given_canon",
    "given_vars", "surname_vars",
    "dob_year", "dob_month", "dob_day", "dob_text", "sex", "citizenship", "country_of_birth",
    "document_number_std", "document_country", "postcode_std", "address_std", "locality_std",
    "register_number",
)

# the run's nodes (one per deterministic group), a table of the linkage connection
NODE_TABLE = "lk_nodes"
# per cluster (person), the model's probability that it is one whole person alone
CLUSTER_EXPECTED = "lk_cluster_expected"


# Splink reads identities (training) and nodes (scoring) from views of the two tables; nodes
# enter as integer node numbers: its blocked-pair table (hundreds of millions of rows at national
# scale, spilled to disk) holds two ids per pair, 8 bytes each instead of a 30-character
# register:record string; pairs are mapped back to node ids after predict
_SPLINK_IDENTITIES = f"SELECT identity_id AS unique_id, source, {', '.join(NODE_FIELDS)} FROM {IDENTITY_TABLE}"
_SPLINK_NODES = f"SELECT node_num AS unique_id, source, {', '.join(NODE_FIELDS)} FROM {NODE_TABLE}"


# DuckDB settings for the linkage connection (docs/linkage.md "Scale"): DuckDB otherwise
# takes up to 80 % of the machine's memory before spilling; a limit makes it spill the
# record-level tables and Splink's blocking joins to `temp_directory` instead.
DEFAULT_MEMORY_LIMIT = "6GB"


def linkage_connection(memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
                       temp_directory: str | Path | None = None,
                       threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that spills to disk past `memory_limit`."""
    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    # one folder per process: DuckDB names its spill files per instance, not per process
    tmp = Path(temp_directory) if temp_directory else Path(tempfile.gettempdir()) / "reglink-linkage-spill"
    if tmp.name != str(os.getpid()):
        tmp = tmp / str(os.getpid())
    if not tmp.exists():
        atexit.register(shutil.rmtree, tmp, True)  # DuckDB removes its files; this the folder
    # spilled record-level tables hold names and dates of birth: owner-only, even under /tmp
    secure.private_dir(tmp.parent)
    secure.private_dir(tmp)
    con.execute(f"SET temp_directory = '{tmp}'")
    con.execute("SET preserve_insertion_order = false")  # lets large scans stream and spill
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


class LinkageResult:
    """What one linkage run produced.

    Scored pairs are a polars frame; the nodes (one per deterministic group, with the
    identifying fields) stay a table of the run's DuckDB connection, read on first use. The
    record-level tables (`person_links`, `node_of_record`: one row per input record, 20
    million at national scale) stay in the run's DuckDB connection `con`; the properties
    read them into polars on first use, `link_persons` streams them to the stores instead.
    """

    def __init__(self, *, con: duckdb.DuckDBPyConnection, pairs: pl.DataFrame,
                 nodes: str, parameters: pl.DataFrame, threshold: float,
                 model_path: Path | None, trained: bool, stats: dict[str, Any]) -> None:
        self.con = con
        self.pairs = pairs                  # scored candidate pairs between nodes
        self.node_table = nodes             # one row per Splink node (restricted: identifiers)
        self.parameters = parameters        # comparison, level, m, u, weight
        self.threshold = threshold
        self.model_path = model_path
        self.trained = trained
        self.stats = stats
        self.quality: dict[str, pl.DataFrame] = {}
        self.review: pl.DataFrame | None = None
        # clusters split by cannot-link constraints: one row per contradiction left between two
        # parts (restricted: it names dates of birth)
        self.splits: pl.DataFrame = pl.DataFrame()
        self._cache: dict[str, pl.DataFrame] = {}

    def _table(self, name: str) -> pl.DataFrame:
        if name not in self._cache:
            self._cache[name] = self.con.sql(f"SELECT * FROM {name}").pl()
        return self._cache[name]

    def close(self) -> None:
        """Free the run's DuckDB connection and frames (gigabytes at national scale) once the
        stores are written; `stats` stay."""
        self.con.close()
        self.pairs = pl.DataFrame()
        self._cache.clear()

    @property
    def nodes(self) -> pl.DataFrame:
        """unique_id, source, n_records, the node fields, identities, first/last seen — one row
        per node (millions at national scale: `link_persons` streams the table instead)."""
        if "nodes" not in self._cache:
            self._cache["nodes"] = self.con.sql(
                f"SELECT * EXCLUDE (node_num) FROM {self.node_table} ORDER BY node_num").pl()
        return self._cache["nodes"]

    @property
    def person_links(self) -> pl.DataFrame:
        """source, record_id, person_key, match_probability — one row per input record."""
        return self._table("person_links")

    @property
    def node_of_record(self) -> pl.DataFrame:
        """source, record_id, identity_id, node_id, cluster_id — one row per input record."""
        return self._table("record_node")


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
    cannot_link: bool = True,
    refit: str = "auto",
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    temp_directory: str | Path | None = None,
    spark: Any = None,
    spark_work: Path | None = None,
) -> LinkageResult:
    """Link standardised register frames (source -> std frame) into persons.

    `model_path`: a saved Splink model reused when it exists (unless `retrain`); otherwise the
    model is trained without labels and saved there (when given). `spark`: score the pairs on
    this Spark session (see `link_relations`).
    """
    std = {s: f for s, f in std.items() if f is not None and f.height > 0}
    if not std:
        raise ValueError("no register records to link")
    con = linkage_connection(memory_limit, temp_directory)
    sources = {}
    for s, f in std.items():
        cols = linkage_columns(s, f.columns)
        con.register(f"_std_{s}", f.select(cols).to_arrow())
        sources[s] = (f"_std_{s}", cols)
    if previous_links is not None and previous_links.height:
        con.register("_previous_links", previous_links.select(
            "source", pl.col("record_id").cast(pl.String), "person_key").to_arrow())
        previous = "_previous_links"
    else:
        previous = None
    return link_relations(con, sources, home_country=home_country, threshold=threshold,
                          model_path=model_path, retrain=retrain, previous=previous, seed=seed,
                          u_max_pairs=u_max_pairs, predict_min_weight=predict_min_weight,
                          debug=debug, cannot_link=cannot_link, refit=refit, spark=spark,
                          spark_work=spark_work)


def link_relations(
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, tuple[str, list[str]]],
    *,
    home_country: str = "NZL",
    threshold: float = 0.9,
    model_path: Path | None = None,
    retrain: bool = False,
    previous: str | None = None,
    seed: int = 42,
    u_max_pairs: float = 2e6,
    predict_min_weight: float = -10.0,
    debug: bool = False,
    cannot_link: bool = True,
    refit: str = "auto",
    spark: Any = None,
    spark_work: Path | None = None,
) -> LinkageResult:
    """Link register relations visible in `con` (register -> (relation, its columns)).
    `spark`: a Spark session -- then Splink's blocking and scoring (the pairwise work) run on
    it with the same model, nodes and pairs exchanged as Parquet in `spark_work`.

    Record-level work (align, collapse, carrying the person_key back) is SQL in `con`; only
    distinct identities, nodes and pairs are polars. `previous`: a relation in `con` with the
    last run's (source, record_id, person_key), or None.
    """
    log.info("linkage: %d registers in", len(sources))
    n_records, n_identities, n_det, learned, n_nodes, jan1 = _prepare_nodes(con, sources)

    n_sources = con.execute(f"SELECT count(DISTINCT source) FROM {NODE_TABLE}").fetchall()[0][0]
    link_type = "link_and_dedupe" if n_sources > 1 else "dedupe_only"
    counts = con.execute("SELECT " + ", ".join(f"count({c})" for c in NODE_FIELDS)
                         + f" FROM {NODE_TABLE}").fetchall()[0]
    present = {c for c, n in zip(NODE_FIELDS, counts) if n > 0}
    # a small delivery also blocks on one name alone, while that stays affordable
    broad = mdl.broad_keys(dict(zip(mdl.BROAD_KEYS, con.execute(
        mdl.broad_block_counts_sql(NODE_TABLE)).fetchall()[0])), n_nodes)
    db_api = DuckDBAPI(connection=con)
    linker, trained, decision = _model_linker(
        con, db_api, link_type=link_type, present=present, broad=broad, n_identities=n_identities,
        n_nodes=n_nodes, home_country=home_country, model_path=model_path, retrain=retrain,
        refit=refit, seed=seed, u_max_pairs=u_max_pairs, debug=debug)
    log.info("model ready (%d nodes)", n_nodes)
    pairs, prior, linker = _scored_pairs(
        con, linker, n_nodes=n_nodes, link_type=link_type, home_country=home_country,
        predict_min_weight=predict_min_weight, debug=debug, broad=broad, spark=spark,
        spark_work=spark_work, present=present,
        # u sampled on this delivery, and a small one (model.U_MATCHES_MAX_IDENTITIES)
        u_from_delivery=(decision["model"] in ("re-estimated", "trained")
                         and n_identities < mdl.U_MATCHES_MAX_IDENTITIES))
    if trained and model_path is not None:
        # saved as it scored this delivery: u solved for the matches among random pairs
        mdl.save_model(linker, Path(model_path))
    # Deterministic groups are already single nodes; Splink edges join nodes into persons.
    con.execute(f"CREATE OR REPLACE TEMP VIEW _node_ids AS SELECT unique_id AS node_id FROM {NODE_TABLE}")
    cc = cluster_pairwise_predictions_at_threshold(
        "_node_ids",
        pairs.select(pl.col("node_l").alias("node_id_l"), pl.col("node_r").alias("node_id_r"),
                     "match_probability").to_arrow(),
        db_api=db_api, node_id_column_name="node_id", threshold_match_probability=threshold,
    ).as_duckdbpyrelation().pl().select("node_id", pl.col("cluster_id").cast(pl.String))
    log.info("clustered")
    cc, split_log, judged, impossible = _constrained(con, linker, pairs, cc, threshold, cannot_link)

    cluster_key, expected_exact, split_log = _carry_keys(con, cc, pairs, previous, split_log,
                                                         impossible)
    log.info("person_links: %d records", n_records)

    params = parameters_frame(linker.misc.save_model_to_json())
    stats = {
        "records": n_records, "identities": n_identities,
        "deterministic_pairs": n_det, "nodes": n_nodes,
        "dob_jan1_as_year": jan1,
        "given_names_with_learned_spellings": learned["given"],
        "surnames_with_learned_spellings": learned["surname"],
        "candidate_pairs": pairs.height,
        "blocking_broad_keys": broad,
        "persons": cluster_key.height,
        "expected_exact_share": expected_exact,
        **judged, **prior,
        "clusters_split": split_log["cluster_id"].n_unique(),
        "split_parts": pl.concat([split_log["cluster_a"], split_log["cluster_b"]]).n_unique(),
        "split_contradictions": split_log.height,
        "model_used": decision["model"], "model_reason": decision["reason"],
        "model_refit_mode": decision.get("mode", refit),
        "model_u_drift_bits": decision.get("u_drift_bits"),
        "model_m_drift_bits": decision.get("m_drift_bits"),
        "link_type": link_type, "sources": sorted(sources),
        **{f"key_{k}": v for k, v in key_stability_sql(con, previous).items()},
    }
    res = LinkageResult(con=con, pairs=pairs, nodes=NODE_TABLE, parameters=params,
                        threshold=threshold, model_path=model_path, trained=trained, stats=stats)
    res.splits = split_log
    return res


def _prepare_nodes(con: duckdb.DuckDBPyConnection, sources: dict[str, tuple[str, list[str]]]
                   ) -> tuple[int, int, int, dict[str, int], int, list[str]]:
    """Identities, deterministic groups, learned spellings and one node per group, as tables of
    `con` (record_identity, IDENTITY_TABLE, lk_groups, NODE_TABLE). Returns (records,
    identities, deterministic pairs, names given learned spellings per field, nodes, registers
    whose 1 January dates of birth were read as the year alone)."""
    # identities and nodes stay DuckDB tables (spilled past the stage's limit); Python holds
    # narrow id columns, the scored pairs and the node fields the constraints read
    n_identities, jan1 = identities_table(con, sources)
    n_records = con.execute("SELECT count(*) FROM record_identity").fetchall()[0][0]
    log.info("collapsed %d records to %d identities", n_records, n_identities)
    if jan1:
        log.info("dates of birth on 1 January read as the year alone (a placeholder in %s)",
                 ", ".join(jan1))

    det = con.sql(deterministic_pairs_sql(IDENTITY_TABLE)).pl()
    groups = connected_components(
        con.sql(f"SELECT identity_id FROM {IDENTITY_TABLE}").pl()["identity_id"], det)
    log.info("deterministic groups: %d pairs", det.height)
    con.register("_groups_arrow", groups.to_arrow())
    con.execute("CREATE OR REPLACE TABLE lk_groups AS SELECT node, label FROM _groups_arrow")
    con.unregister("_groups_arrow")
    del groups
    # the name spellings this delivery shows for one person (inside deterministic groups)
    learned = learn_spelling_variants(con, IDENTITY_TABLE, "lk_groups")
    log.info("spelling variants learned from deterministic groups: %s", learned)
    n_nodes = nodes_table(con, IDENTITY_TABLE, "lk_groups", NODE_FIELDS, out=NODE_TABLE)
    return n_records, n_identities, det.height, learned, n_nodes, jan1


def _carry_keys(con: duckdb.DuckDBPyConnection, cc: pl.DataFrame, pairs: pl.DataFrame,
               previous: str | None, split_log: pl.DataFrame, impossible: pl.DataFrame
               ) -> tuple[pl.DataFrame, float, pl.DataFrame]:
    """Clusters carried to every record (the person_links table of `con`) under stable keys
    (the previous run's where its records vote for them). Returns (cluster -> person_key, the
    model's own estimate of the persons exactly recovered, `split_log` with the parts' keys).
    `impossible`: node pairs (node_l, node_r) the evidence says are two persons; they are not
    counted as rival persons a node could belong to."""
    # identity -> node -> cluster (identity level), then carried to every record in SQL
    con.register("_cc", cc.to_arrow())
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _ident_node AS
        SELECT i.identity_id, i.source, i.n_records, g.label AS node_id, c.cluster_id
        FROM {IDENTITY_TABLE} i JOIN lk_groups g ON i.identity_id = g.node
        LEFT JOIN _cc c ON c.node_id = g.label""")
    con.unregister("_cc")
    con.execute(f"DROP TABLE lk_groups; DROP TABLE {IDENTITY_TABLE}")
    con.execute("""CREATE OR REPLACE TEMP TABLE record_node AS
        SELECT ri.source, ri.record_id, ri.identity_id, n.node_id, n.cluster_id
        FROM record_identity ri JOIN _ident_node n USING (identity_id)""")
    con.execute("DROP TABLE record_identity")

    # keys: each cluster's smallest record (identity_id holds its identity's smallest record)
    smallest = con.sql("""SELECT cluster_id, source, record_id FROM (
            SELECT cluster_id, source, substr(identity_id, length(source) + 2) AS record_id
            FROM _ident_node)
        QUALIFY row_number() OVER (PARTITION BY cluster_id ORDER BY source, record_id) = 1""").pl()
    votes = used_before = None
    if previous is not None:
        votes = con.sql(f"""SELECT rn.cluster_id, p.person_key, count(*) AS n
            FROM record_node rn JOIN {previous} p USING (source, record_id)
            GROUP BY rn.cluster_id, p.person_key""").pl()
        used_before = con.sql(f"SELECT DISTINCT person_key FROM {previous}").pl()
    cluster_key = cluster_keys(smallest, votes, used_before)
    node_cluster = con.sql("""SELECT node_id, any_value(cluster_id) AS cluster_id,
        sum(n_records) AS n_records FROM _ident_node GROUP BY node_id""").pl()
    con.execute("DROP TABLE _ident_node")
    node_prob = node_probability(node_cluster, pairs.join(impossible, on=["node_l", "node_r"],
                                                          how="anti"))
    # the model's own estimate of the persons exactly recovered (no truth needed): a person is
    # whole and alone when every node of theirs belongs there, each with its node probability
    cluster_p = (node_cluster.select("node_id", "cluster_id")
                 .join(node_prob, on="node_id", how="left")
                 .group_by("cluster_id")
                 .agg(pl.col("match_probability").fill_null(1.0).clip(1e-12, 1.0).log().sum().exp()
                      .alias("p")))
    expected_exact = float(cluster_p["p"].mean() or 1.0)
    # kept per cluster for the figures by group (quality.expected_by_citizenship)
    con.register("_cluster_p", cluster_p.to_arrow())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CLUSTER_EXPECTED} AS SELECT * FROM _cluster_p")
    con.unregister("_cluster_p")
    con.register("_cluster_key", cluster_key.to_arrow())
    con.register("_node_prob", node_prob.to_arrow())
    con.execute("""CREATE OR REPLACE TEMP TABLE person_links AS
        SELECT rn.source, rn.record_id, k.person_key, p.match_probability
        FROM record_node rn JOIN _cluster_key k USING (cluster_id)
        JOIN _node_prob p USING (node_id)""")
    con.unregister("_cluster_key")
    con.unregister("_node_prob")
    ck = cluster_key.select("cluster_id", "person_key")
    split_log = (split_log.join(ck.rename({"cluster_id": "cluster_a", "person_key": "person_key_a"}),
                                on="cluster_a", how="left")
                 .join(ck.rename({"cluster_id": "cluster_b", "person_key": "person_key_b"}),
                       on="cluster_b", how="left"))
    return cluster_key, expected_exact, split_log


def _model_linker(con: duckdb.DuckDBPyConnection, db_api: DuckDBAPI, *, link_type: str,
                  present: set[str], broad: list[str], n_identities: int, n_nodes: int,
                  home_country: str, model_path: Path | None, retrain: bool, refit: str,
                  seed: int, u_max_pairs: float, debug: bool) -> tuple[Linker, bool, dict[str, Any]]:
    """The Splink linker that scores this delivery's nodes: the saved model (fitted to the
    delivery unless `refit` is "never") or one trained on it without labels, with this
    delivery's prior. Returns (linker, trained now, the decision and its reason)."""
    trained = False
    reuse = model_path is not None and Path(model_path).exists() and not retrain
    if reuse:
        settings: Any = mdl.load_settings(Path(model_path), link_type)
        if refit != "never":
            # the saved model's m and u re-estimated on this delivery's identities (without
            # labels, EM from the saved m), kept only if it does not fit and the guard passes
            second = con.cursor()
            train_api = DuckDBAPI(connection=second)
            t_linker = Linker(_splink_inputs(train_api, _SPLINK_IDENTITIES, "ident"), copy.deepcopy(settings),
                              log_level=logging.WARNING)
            fitted, decision = mdl.fit_to_delivery(t_linker, settings, mode=refit, seed=seed,
                                                   max_pairs=u_max_pairs, present=present,
                                                   identities=n_identities)
            _drop_training(t_linker, second)
            if fitted is not settings:
                fitted["link_type"] = link_type
                fitted.pop("linker_uid", None)
                settings = fitted
        else:
            decision = {"model": "saved", "mode": refit, "reason": "re-estimation switched off"}
        log.info("model: %s (%s)", decision["model"], decision["reason"])
        linker = Linker(_splink_inputs(db_api, _SPLINK_NODES, "node"),
                        mdl.with_rules(copy.deepcopy(settings), broad), log_level=logging.WARNING)
        # m and u describe the fields and carry over; the prior depends on how many records
        # this delivery has, so it is always estimated on the data at hand
        mdl.estimate_prior(linker, present, n_nodes)
    else:
        # train on distinct identities (before deterministic grouping), predict on nodes
        second = con.cursor()
        train_api = DuckDBAPI(connection=second)
        t_linker = Linker(_splink_inputs(train_api, _SPLINK_IDENTITIES, "ident"),
                          mdl.settings_creator(home_country, link_type, debug),
                          log_level=logging.WARNING)
        model = mdl.train(t_linker, seed=seed, max_pairs=u_max_pairs, present=present)
        _drop_training(t_linker, second)
        model["link_type"] = link_type
        model.pop("linker_uid", None)
        linker = Linker(_splink_inputs(db_api, _SPLINK_NODES, "node"),
                        mdl.with_rules(copy.deepcopy(model), broad), log_level=logging.WARNING)
        mdl.estimate_prior(linker, present, n_nodes)
        trained = True
        decision = {"model": "trained", "mode": refit, "reason": (
            "trained on this delivery without labels: " + ("retrain requested" if retrain
                                                           else "no saved model"))}
    return linker, trained, decision


def _scored_pairs(con: duckdb.DuckDBPyConnection, linker: Linker, *, n_nodes: int, link_type: str,
                  home_country: str, predict_min_weight: float, debug: bool, broad: list[str],
                  spark: Any, spark_work: Path | None, u_from_delivery: bool = False,
                  present: set[str] | None = None) -> tuple[pl.DataFrame, dict[str, Any], Linker]:
    """Candidate pairs scored (on DuckDB, or on `spark`), mapped back to node ids, highest
    weight first; the prior raised where the scored pairs show it too small; where u was
    sampled on this delivery (`u_from_delivery`), u solved for the matches among random pairs
    at that prior and the pairs scored again if a weight moves (model.u_without_matches).
    Returns (pairs, the priors and the u correction, the linker that scored them)."""
    pairs = _predict(con, linker, link_type=link_type, home_country=home_country,
                     predict_min_weight=predict_min_weight, debug=debug, broad=broad, spark=spark,
                     spark_work=spark_work)
    # the prior of the rule may be far too small on corrupted records (model.prior_from_pairs)
    prior_rule = linker._settings_obj._probability_two_random_records_match
    prior_em = mdl.prior_from_pairs(pairs["match_weight"], prior_rule, n_nodes)
    prior_used = min(max(prior_rule, prior_em), prior_rule * mdl.PRIOR_MAX_RAISE, 0.5)
    if prior_used > prior_rule:
        shift = math.log2(prior_used / (1 - prior_used)) - math.log2(prior_rule / (1 - prior_rule))
        pairs = pairs.with_columns((pl.col("match_weight") + shift).alias("match_weight")).with_columns(
            (1.0 / (1.0 + 2.0 ** -pl.col("match_weight"))).alias("match_probability"))
        linker._settings_obj._probability_two_random_records_match = prior_used
        log.info("prior raised from %.3g (rule) to %.3g (EM over the scored pairs)", prior_rule, prior_used)
    u_bits, rescored = 0.0, False
    if u_from_delivery:
        # one round: u is not solved again at the prior re-estimated over the pairs scored
        # again, which moves by under 5 % (Splink's fake_1000, FEBRL3): most matches it misses
        # are pairs no rule proposed
        corrected, u_bits = mdl.u_without_matches(linker.misc.save_model_to_json(), prior_used, present)
        if u_bits >= mdl.U_MATCHES_MIN_BITS:
            corrected["probability_two_random_records_match"] = prior_used
            corrected.pop("linker_uid", None)
            api = DuckDBAPI(connection=con)
            linker = Linker(_splink_inputs(api, _SPLINK_NODES, "node"),
                            corrected, log_level=logging.WARNING)
            # the same for the frequencies of the values, which weigh the exact name levels
            tf = tf_without_matches(con, corrected, prior_used)
            for col, table in tf.items():
                linker.table_management.register_term_frequency_lookup(
                    api.register(table.to_arrow(), table_name=f"lk_tf_{col}"), col)
            pairs = _predict(con, linker, link_type=link_type, home_country=home_country,
                             predict_min_weight=predict_min_weight, debug=debug, broad=broad,
                             spark=spark, spark_work=spark_work, tf=tf)
            rescored = True
            log.info("u solved for the matches among random pairs at prior %.3g: weights moved by "
                     "up to %.2f bits, pairs scored again", prior_used, u_bits)
            # the prior over the pairs scored again, as a later run with this model would find it
            again = min(max(prior_rule, mdl.prior_from_pairs(pairs["match_weight"], prior_used, n_nodes)),
                        prior_rule * mdl.PRIOR_MAX_RAISE, 0.5)
            shift = math.log2(again / (1 - again)) - math.log2(prior_used / (1 - prior_used))
            pairs = pairs.with_columns((pl.col("match_weight") + shift).alias("match_weight")).with_columns(
                (1.0 / (1.0 + 2.0 ** -pl.col("match_weight"))).alias("match_probability"))
            prior_used = again
            linker._settings_obj._probability_two_random_records_match = prior_used
    return pairs, {"prior_rule": prior_rule, "prior_em": prior_em, "prior_used": prior_used,
                   "u_matches_bits": u_bits, "u_matches_rescored": rescored}, linker


def tf_without_matches(con: duckdb.DuckDBPyConnection, model: dict[str, Any],
                       prior: float) -> dict[str, pl.DataFrame]:
    """Term-frequency lookups over the nodes (column -> frame of the value and `tf_<column>`) with
    the matches among random pairs taken out, as `model.u_without_matches` does for u. Splink
    weighs an exact name by m / tf(value), the share of records holding the value; a person
    with four records makes their own name four times as common as it is among other people
    (fake_1000: OLIVER ATKINSON). A record's chance that a random other record is one of its
    own person's and agrees is prior * m (m of the level the column adjusts), so that is taken
    off each value's frequency, which is divided by at most 2 ** U_MATCHES_MAX_BITS; Splink's
    floor (tf_minimum_u_value) still applies."""
    m_of: dict[str, float] = {}
    for comp in model["comparisons"]:
        for lv in comp["comparison_levels"]:
            col = lv.get("tf_adjustment_column")
            if col and lv.get("m_probability"):
                m_of[col] = max(m_of.get(col, 0.0), float(lv["m_probability"]))
    keep = 2.0 ** -mdl.U_MATCHES_MAX_BITS
    out = {}
    for col, m in sorted(m_of.items()):
        out[col] = con.sql(f"""
            WITH f AS (SELECT {col}, count(*)::DOUBLE / (SELECT count({col}) FROM {NODE_TABLE}) AS tf
                       FROM {NODE_TABLE} WHERE {col} IS NOT NULL GROUP BY {col})
            SELECT {col}, greatest(tf - {prior * m!r}, tf * {keep!r}) AS tf_{col} FROM f""").pl()
    return out


def _predict(con: duckdb.DuckDBPyConnection, linker: Linker, *, link_type: str, home_country: str,
             predict_min_weight: float, debug: bool, broad: list[str], spark: Any,
             spark_work: Path | None, tf: dict[str, pl.DataFrame] | None = None) -> pl.DataFrame:
    """The linker's candidate pairs scored (on DuckDB, or on `spark`), mapped back to node ids,
    highest weight first. `tf`: term-frequency lookups to use instead of Splink's own (already
    registered with `linker`; passed on to Spark)."""
    if spark is not None:
        # the model as estimated here (m, u and this delivery's prior), rendered for Spark
        from reglink.linkage.spark import predict_on_spark

        pred_rel, pair_cols, drop = predict_on_spark(
            spark, con, linker, con.sql(_SPLINK_NODES).pl(), link_type, home_country, predict_min_weight,
            Path(spark_work or "spark-work") / "linkage", debug, broad, tf)
    else:
        pred = linker.inference.predict(threshold_match_weight=predict_min_weight, warning_mode="never")
        # gamma (agreement level) per comparison is kept where Splink returns it, which it does
        # only with its intermediate columns retained (`debug`); Bayes factors and term-frequency
        # columns follow from gamma and the saved model and would double the pair table at scale
        pair_cols = [c for c in pred.as_duckdbpyrelation().columns
                     if c.startswith("gamma_") or (debug and c not in (
                         "unique_id_l", "unique_id_r", "match_weight", "match_probability"))]
        pred_rel, drop = pred.physical_name, pred.drop_table_from_database_and_remove_from_cache
    pairs = con.sql(
        "SELECT nl.unique_id AS node_l, nr.unique_id AS node_r, p.match_weight, p.match_probability"
        + "".join(f", p.{c}" for c in pair_cols)
        + f" FROM {pred_rel} p JOIN {NODE_TABLE} nl ON p.unique_id_l = nl.node_num"
        f" JOIN {NODE_TABLE} nr ON p.unique_id_r = nr.node_num"
        " ORDER BY p.match_weight DESC, node_l, node_r").pl()
    drop()
    log.info("predicted %d pairs", pairs.height)
    return pairs


def _constrained(con: duckdb.DuckDBPyConnection, linker: Linker, pairs: pl.DataFrame,
                 cc: pl.DataFrame, threshold: float, cannot_link: bool
                 ) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any], pl.DataFrame]:
    """Clusters `cc` split where their records contradict (`cannot_link`), with the log of the
    contradictions left between parts, how dates of birth were judged, and the scored node
    pairs (node_l, node_r) that cannot be one person (contradicting dates of birth where they
    veto, impossible travel, two registrations at once, two countries of birth)."""
    # evidence against a match: clusters holding contradicting records are split at their
    # weakest links (cannot-link constraints, linkage/constraints.py)
    used_model = linker.misc.save_model_to_json()
    dob_veto, dob_else_m = dob_veto_applies(used_model)
    dob_typos, dob_typo_m = dob_typos_tolerated(used_model)
    # the model's m may come from other registers (a saved model kept): the delivery's own
    # near-certain pairs may show that its dates often differ wholly (or its countries of
    # birth), and then they do not veto; the same judgement for both
    cob_veto, cob_else_m = birth_country_veto_applies(used_model)
    delivery_else, delivery_sure, delivery_low = None, 0, None
    cob_else, cob_sure, cob_low = None, 0, None
    if cannot_link and (dob_veto or cob_veto):
        judged_nodes = con.sql(f"SELECT unique_id, {', '.join(DOB_EVIDENCE)}, country_of_birth "
                               f"FROM {NODE_TABLE}").pl()
    if cannot_link and not dob_veto:
        log.info("cannot-link: dates of birth left to the model (m of a wholly different "
                 "date %.3f >= %.3f)", dob_else_m, DOB_VETO_MAX_M)
    if cannot_link and dob_veto:
        dob_veto, delivery_else, delivery_sure, delivery_low = delivery_keeps_veto(
            pairs, judged_nodes, used_model, "birth_date", DOB_EVIDENCE, DOB_VETO_MAX_M)
        if not dob_veto:
            log.info("cannot-link: dates of birth left to the model (%.3f of %d near-certain "
                     "pairs of this delivery have wholly different dates: at least %.3f "
                     "with 95 %% confidence, >= %.3f)", delivery_else, delivery_sure,
                     delivery_low, DOB_VETO_MAX_M)
    if cannot_link and cob_veto:
        cob_veto, cob_else, cob_sure, cob_low = delivery_keeps_veto(
            pairs, judged_nodes, used_model, "country_of_birth", ("country_of_birth",),
            COB_VETO_MAX_M)
        if not cob_veto:
            log.info("cannot-link: countries of birth left to the model (%.3f of %d near-certain "
                     "pairs differ: at least %.3f)", cob_else, cob_sure, cob_low)
    del used_model
    if cannot_link:
        evidence = con.sql(f"SELECT {', '.join(EVIDENCE_FIELDS)} FROM {NODE_TABLE}").pl()
        # node pairs that cannot be one person: impossible travel, two registrations at once
        travel = pl.concat([pair_evidence(travel_evidence(con, cc, groups="lk_groups",
                                                          nodes=NODE_TABLE), "travel"),
                            registration_evidence(con, cc, nodes=NODE_TABLE)]
                           + ([pair_evidence(birth_country_contradictions(judged_nodes, cc),
                                             "country of birth")] if cob_veto else []))
        cc, split_log = constrained_clusters(evidence, pairs, cc, threshold,
                                             dates_of_birth=dob_veto, dob_typos=dob_typos,
                                             travel=travel)
        del evidence
        # both orientations of the evidence pairs: only the anti-join with the scored pairs uses them
        impossible = pl.concat(
            ([contradicting_pairs(pairs, judged_nodes, dob_typos)] if dob_veto else [])
            + [travel.select(pl.col(a).alias("node_l"), pl.col(b).alias("node_r"))
               for a, b in (("node_a", "node_b"), ("node_b", "node_a"))])
    else:
        evidence = con.sql(f"SELECT {', '.join(EVIDENCE_FIELDS)} FROM {NODE_TABLE} LIMIT 0").pl()
        split_log = constrained_clusters(evidence, pairs.head(0), cc.head(0), threshold)[1]
        impossible = pairs.select("node_l", "node_r").head(0)

    return cc, split_log, {
        "cannot_link_dob": bool(cannot_link and dob_veto), "dob_else_m": dob_else_m,
        "cannot_link_dob_typos_tolerated": dob_typos, "dob_typo_m": dob_typo_m,
        "dob_else_share_delivery": delivery_else, "dob_sure_pairs_delivery": delivery_sure,
        "dob_else_share_delivery_low": delivery_low,
        "cannot_link_birth_country": bool(cannot_link and cob_veto), "cob_else_m": cob_else_m,
        "cob_else_share_delivery": cob_else, "cob_sure_pairs_delivery": cob_sure,
        "cob_else_share_delivery_low": cob_low}, impossible


def _drop_training(linker: Any, cursor: duckdb.DuckDBPyConnection) -> None:
    """Free what the training linker left in the shared database, and its cursor."""
    linker.table_management.delete_tables_created_by_splink_from_db()
    cursor.close()


def key_stability_sql(con: duckdb.DuckDBPyConnection, previous: str | None) -> dict[str, float]:
    """Share of previously keyed records that kept their person_key (in SQL, record level)."""
    if previous is None:
        return {"previous_records": 0, "kept_records": 0, "kept_share": 1.0}
    n, kept = con.execute(f"""SELECT count(*), count(*) FILTER (WHERE p.person_key = l.person_key)
        FROM {previous} p JOIN person_links l USING (source, record_id)""").fetchall()[0]
    return {"previous_records": n, "kept_records": kept, "kept_share": kept / n if n else 1.0}


def _splink_inputs(db_api: DuckDBAPI, select_sql: str, prefix: str) -> Any:
    """One Splink input per register (link_and_dedupe), or one (dedupe): views of
    `select_sql` (unique_id, source, the node fields) in the database, so the rows stay in
    DuckDB. Views, not TEMP views: the training cursor and the scoring connection share them."""
    con = db_api._con
    sources = [r[0] for r in con.execute(
        f"SELECT DISTINCT source FROM ({select_sql}) ORDER BY source").fetchall()]
    tables = []
    for s in sources:
        view = f"lk_{prefix}_{s}"
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT unique_id, {', '.join(NODE_FIELDS)} "
                    f"FROM ({select_sql}) WHERE source = '{s}'")
        tables.append(db_api.register(view, dataset_display_name=s))
    return tables if len(tables) > 1 else tables[0]


# odds 2**w beyond this many bits add nothing a float can hold
_ODDS_BITS = 60.0


def node_probability(node_cluster: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Per node (so per record of the node): how sure we are it belongs to its person.

    A node belongs to its own cluster, to one of the other clusters it was compared with, or
    to nobody it was compared with; one person cannot be in two clusters, so these are
    exclusive and their odds are normalised together. The odds of a cluster are 2**w, w the
    match weight (log2 posterior odds) of the node's strongest pair into it:
    p = o_own / (1 + o_own + sum(o_other)) for a node linked into its cluster, and
    1 / (1 + sum(o_other)) for a single record alone. With a single candidate this is Splink's
    match probability (linked) or one minus it (alone); a node matching a namesake's cluster
    as well as its own -- kept apart by a contradiction, or never joined -- is a coin toss
    (0.5), which each pairwise probability (0.999) would hide, so the model's estimate of the
    persons exactly recovered sees the ambiguity that grows with the population. A
    deterministic group alone (records under one document and date, or identical records)
    counts as whole: at a million persons the many weak rivals of such groups summed to 4,946
    expected errors where 446 were found (docs/linkage.md).
    `node_cluster`: (node_id, cluster_id, n_records); `pairs`: (node_l, node_r, match_weight).
    """
    cl = node_cluster.select("node_id", "cluster_id")
    ends = pl.concat([
        pairs.select(pl.col("node_l").alias("node_id"), pl.col("node_r").alias("other"), "match_weight"),
        pairs.select(pl.col("node_r").alias("node_id"), pl.col("node_l").alias("other"), "match_weight")])
    per_cluster = (ends.join(cl, on="node_id")
                   .join(cl.rename({"node_id": "other", "cluster_id": "other_cluster"}), on="other")
                   .group_by("node_id", "cluster_id", "other_cluster")
                   .agg(pl.col("match_weight").max().clip(-_ODDS_BITS, _ODDS_BITS).alias("w"))
                   .with_columns((2.0 ** pl.col("w")).alias("odds"),
                                 (pl.col("cluster_id") == pl.col("other_cluster")).alias("own")))
    odds = per_cluster.group_by("node_id").agg(
        pl.col("odds").filter(pl.col("own")).sum().alias("o_own"),
        pl.col("odds").filter(~pl.col("own")).sum().alias("o_other"))
    o_own, o_other = pl.col("o_own").fill_null(0.0), pl.col("o_other").fill_null(0.0)
    return (node_cluster.join(odds, on="node_id", how="left")
            .select("node_id", pl.when(o_own > 0).then(o_own / (1.0 + o_own + o_other))
                    .when(pl.col("n_records") > 1).then(pl.lit(1.0))
                    .otherwise(1.0 / (1.0 + o_other)).alias("match_probability")))


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
