"""The linkage building blocks on hand-made frames: identities, deterministic links,
connected components, stable keys, pairwise accuracy."""
from __future__ import annotations

import duckdb
import polars as pl

from reglink.linkage.deterministic import (connected_components, deterministic_pairs,
                                           deterministic_pairs_sql, nodes_table, representatives)
from reglink.linkage.evaluate import pairwise_metrics
from reglink.linkage.keys import assign_keys, hash_key
from reglink.linkage.link import NODE_FIELDS
from reglink.linkage.prepare import (IDENTITY_TABLE, add_derived, align, collapse_identities,
                                     collapse_identities_sql, identities_table)


def _std(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"dob_year": pl.Int32, "dob_month": pl.Int32,
                                                "dob_day": pl.Int32})


def _traveller(rid, doc="P1234567", country="FRA", y=1980, m=5, d=17, sex="F", name="ANNE"):
    return {"record_id": rid, "given_names_std": name, "surname_std": "MARTIN",
            "full_name_std": f"{name} MARTIN", "dob_year": y, "dob_month": m, "dob_day": d,
            "sex": sex, "citizenship": country, "document_number_std": doc,
            "document_country": country}


def test_crossings_collapse_to_identities():
    std = _std([_traveller("c1"), _traveller("c2"), _traveller("c3", doc="P7654321")])
    ident, rec = collapse_identities(add_derived(align("border_crossings", std)))
    assert ident.height == 2 and rec.height == 3
    assert sorted(ident["n_records"].to_list()) == [1, 2]
    assert rec.filter(pl.col("record_id") == "c2")["identity_id"][0] == "border_crossings:c1"


def test_sql_collapse_matches_the_frame_collapse():
    """The DuckDB collapse (used at scale: records never reach Python) gives the same
    identities and record map as the polars one, across registers, blanks and 0 = unknown."""
    crossings = _std([_traveller("c2"), _traveller("c1"), _traveller("c3", doc="P7654321"),
                      _traveller("c4", m=0, d=0), _traveller("c5", m=None, d=None),
                      {**_traveller("c6"), "surname_std": "  "}, {**_traveller("c7"), "surname_std": None}])
    permits = _std([{k: v for k, v in _traveller("p1").items() if k != "document_country"},
                    {k: v for k, v in _traveller("p2").items() if k != "document_country"}])
    std = {"border_crossings": crossings, "permits": permits}
    records = pl.concat([align(s, f) for s, f in sorted(std.items())])
    ident_pl, rec_pl = collapse_identities(records)
    con = duckdb.connect()
    for s, f in std.items():
        con.register(f"t_{s}", f.to_arrow())
    ident_sql = collapse_identities_sql(con, {s: (f"t_{s}", f.columns) for s, f in std.items()})
    rec_sql = con.sql("SELECT * FROM record_identity").pl()
    cols = ["identity_id", "source", "n_records", "surname_std", "dob_month", "document_country"]
    assert ident_sql.height == ident_pl.height == 5
    assert ident_sql.select(cols).sort("identity_id").equals(
        ident_pl.select(cols).with_columns(pl.col("n_records").cast(pl.UInt32)).sort("identity_id"))
    assert rec_sql.sort("source", "record_id").equals(rec_pl.sort("source", "record_id"))


def test_identity_and_node_tables_in_duckdb_match_the_frames():
    """At national scale identities and nodes stay DuckDB tables, the derived fields computed
    in batches: batches of 2 rows give the polars path's identities, deterministic pairs and
    representatives (most records, then most filled fields) row for row."""
    crossings = _std([_traveller("c1"), _traveller("c2"), _traveller("c3", name="ANNA"),
                      _traveller("c4", doc="P7654321", name="JOHN", sex="M", y=1975),
                      _traveller("c5", m=None, d=None), {**_traveller("c6"), "surname_std": "MARTINS"}])
    permits = _std([{k: v for k, v in _traveller("p1").items() if k != "document_country"},
                    {**_traveller("p2", doc="X99999", name="LI"), "surname_std": "ZHOU"}])
    std = {"border_crossings": crossings, "permits": permits}
    con = duckdb.connect()
    for s, f in std.items():
        con.register(f"t_{s}", f.to_arrow())
    rels = {s: (f"t_{s}", f.columns) for s, f in std.items()}
    want = add_derived(collapse_identities_sql(con, rels)).sort("identity_id")
    n, _ = identities_table(con, rels, batch_rows=2)
    got = con.sql(f"SELECT * FROM {IDENTITY_TABLE} ORDER BY identity_id").pl()
    assert n == got.height == want.height == 7
    assert got.select(want.columns).equals(want)

    det = con.sql(deterministic_pairs_sql(IDENTITY_TABLE)).pl().sort("id_l", "id_r")
    assert det.equals(deterministic_pairs(con, want).sort("id_l", "id_r")) and det.height > 0
    groups = connected_components(want["identity_id"], det)
    con.register("g", groups.to_arrow())
    assert nodes_table(con, IDENTITY_TABLE, "g", NODE_FIELDS) == groups["label"].n_unique()
    nodes = con.sql("SELECT * FROM lk_nodes ORDER BY node_num").pl()
    reps = representatives(want, groups)
    assert nodes["unique_id"].to_list() == reps["group_id"].to_list()
    assert nodes.select(NODE_FIELDS).equals(reps.select(NODE_FIELDS))
    assert nodes["node_num"].to_list() == list(range(nodes.height))
    sizes = groups.group_by("label").agg(pl.len()).sort("label")["len"].to_list()
    assert nodes["identities"].to_list() == sizes


def test_deterministic_links_only_when_dob_and_sex_do_not_contradict():
    rows = [_traveller("a"), _traveller("b", name="ANN"),            # same doc, name typo: link
            _traveller("c", d=None), _traveller("e", m=17, d=5),     # partial / swapped DOB: link
            _traveller("f", y=1981), _traveller("g", sex="M"),       # other year / sex: no
            _traveller("h", country="DEU")]                          # other issuing state: no
    ident, _ = collapse_identities(add_derived(align("border_crossings", _std(rows))))
    pairs = deterministic_pairs(duckdb.connect(), ident)
    linked = set(pairs["id_l"]) | set(pairs["id_r"])
    ids = {f"border_crossings:{r}" for r in "abce"}
    assert linked == ids


def test_connected_components_follow_long_chains():
    nodes = pl.Series([f"n{i:02d}" for i in range(12)])
    edges = pl.DataFrame({"id_l": [f"n{i:02d}" for i in range(10, 0, -1)],
                          "id_r": [f"n{i - 1:02d}" for i in range(10, 0, -1)]})
    lab = dict(connected_components(nodes, edges).iter_rows())
    assert {lab[f"n{i:02d}"] for i in range(11)} == {"n00"} and lab["n11"] == "n11"


def test_keys_survive_splits_merges_and_new_records():
    prev = pl.DataFrame({"source": ["s"] * 6, "record_id": ["1", "2", "3", "4", "5", "6"],
                         "person_key": ["KA", "KA", "KA", "KB", "KC", "KC"]})
    now = pl.DataFrame({"source": ["s"] * 8, "record_id": ["1", "2", "3", "4", "5", "6", "7", "8"],
                        # A split (1,2 | 3), B and C merged (4,5,6), a new person (7,8)
                        "cluster_id": ["x", "x", "y", "z", "z", "z", "w", "w"]})
    k = dict(zip(*assign_keys(now, prev).select("record_id", "person_key").to_dict(as_series=False).values()))
    assert k["1"] == k["2"] == "KA"                 # the larger part keeps the key
    assert k["3"] not in {"KA", "KB", "KC"}          # the split-off part gets a fresh key
    assert k["4"] == k["5"] == k["6"] == "KC"        # the merge keeps the majority key
    assert k["7"] == k["8"] == hash_key("s", "7")    # new person: hash of its smallest record
    assert len({k["3"], k["7"], "KA", "KC"}) == 4


def test_pairwise_metrics_counts_pairs_without_enumerating():
    truth = pl.DataFrame({"source": ["s"] * 5, "record_id": list("abcde"), "person_id": [1, 1, 1, 2, 2]})
    links = pl.DataFrame({"source": ["s"] * 5, "record_id": list("abcde"),
                          "person_key": ["K", "K", "L", "L", "L"]})
    m = pairwise_metrics(links, truth)
    # predicted pairs ab, cd, ce, de (4); true pairs ab, ac, bc, de (4); correct ab, de
    assert (m["predicted_pairs"], m["true_pairs"], m["correct_pairs"]) == (4, 4, 2)
    assert m["precision"] == m["recall"] == 0.5
    assert m["split_share"] == 0.5 and m["merged_share"] == 1.0


def test_merged_share_without_lookalikes():
    # persons 1 and 2 share name, date of birth, sex and citizenship (look-alikes); 3 has
    # another date of birth; 4 has records only of a person with no records elsewhere.
    # Key K merges 1 and 2 (look-alikes), key L merges 3 and 4 (not): merged 4 of 4, but
    # without the look-alikes 2 of 2
    import datetime as dt

    truth = pl.DataFrame({"source": ["s"] * 6, "record_id": list("abcdef"),
                          "person_id": [1, 1, 2, 3, 4, 4]})
    links = pl.DataFrame({"source": ["s"] * 6, "record_id": list("abcdef"),
                          "person_key": ["K", "K", "K", "L", "L", "L"]})
    born = dt.date(1990, 5, 1)
    persons = pl.DataFrame({"person_id": [1, 2, 3, 4, 5], "given_names": ["LI"] * 4 + ["ANA"],
                            "surname": ["WANG"] * 4 + ["SILVA"],
                            "date_of_birth": [born, born, dt.date(1990, 5, 2), dt.date(1991, 1, 1), born],
                            "sex": ["M"] * 5, "citizenship": ["CHN"] * 5})
    m = pairwise_metrics(links, truth, persons=persons)
    assert (m["persons_lookalike"], m["persons_merged_lookalike"]) == (2, 2)
    assert m["merged_share"] == 1.0 and m["merged_share_without_lookalikes"] == 1.0
    # K split into one key per look-alike: nobody merged but 3 and 4
    m = pairwise_metrics(links.with_columns(pl.when(pl.col("record_id") == "c").then(pl.lit("M"))
                                            .otherwise(pl.col("person_key")).alias("person_key")),
                         truth, persons=persons)
    assert m["persons_merged_lookalike"] == 0 and m["merged_share_without_lookalikes"] == 1.0
    assert m["merged_share"] == 0.5


def test_near_lookalikes_by_hand():
    # one sex throughout unless said; 1 and 2 look-alikes; 3 is 1's near look-alike (TAKUYA
    # KATO / SATO, same day); 4 shares 1's first given name and surname on the day/month swap
    # of the date; 5 has 1's names on another day (not near); 6 has 1's date and names but the
    # other sex; 7 (ANA SILVA) has nobody alike
    import datetime as dt

    from reglink.linkage.evaluate import near_lookalikes

    born = dt.date(1990, 5, 3)
    persons = pl.DataFrame({
        "person_id": [1, 2, 3, 4, 5, 6, 7],
        "given_names": ["Takuya", "Takuya", "TAKUYA", "Takuya Ken", "Takuya", "Takuya", "Ana"],
        "surname": ["Kato", "Kato", "SATO", "Kato", "Kato", "Kato", "Silva"],
        "date_of_birth": [born, born, born, dt.date(1990, 3, 5), dt.date(1990, 5, 4), born, born],
        "sex": ["M", "M", "M", "M", "M", "F", "M"], "citizenship": ["JPN"] * 7})
    assert sorted(near_lookalikes(persons)["t"].to_list()) == ["3", "4"]
    # the whole figures count among the persons with records (1, 3, 5, 7: 1 is no look-alike
    # there, as 2 has none, but 3's near look-alike): key K merges 3 with 7, 1 and 5 are alone
    truth = pl.DataFrame({"source": ["s"] * 4, "record_id": list("abcd"), "person_id": [3, 7, 5, 1]})
    links = pl.DataFrame({"source": ["s"] * 4, "record_id": list("abcd"),
                          "person_key": ["K", "K", "L", "M"]})
    m = pairwise_metrics(links, truth, persons=persons)
    assert (m["persons_lookalike"], m["persons_near_lookalike"], m["persons_merged_near_lookalike"]) == (0, 2, 1)
    assert m["merged_share_of_near_lookalikes"] == 0.5 and m["merged_share_of_others"] == 0.5


def test_person_kinds_by_hand():
    # each person goes to the first kind they belong to, hardest first: 1 and 2 look-alikes;
    # 3 their near look-alike (KATO / SATO on their day); 4 shares 1's names, sex, citizenship
    # and year, not the day; 5 (JOHN PAUL SMITH, NZL) and 6 (JOHN SMITH, AUS) share the first
    # given name, surname, sex and year only; 7 is 5's brother (another first name); 8 shares
    # 1's names but not the year; 9 is 1's namesake of the other sex, 10 born another year
    import datetime as dt

    from reglink.linkage.evaluate import person_kinds

    born = dt.date(1990, 5, 3)
    persons = pl.DataFrame({
        "person_id": list(range(1, 11)),
        "given_names": ["Takuya", "Takuya", "TAKUYA", "Takuya", "John Paul", "John", "Peter",
                        "Takuya", "Takuya", "Takuya"],
        "surname": ["Kato", "Kato", "SATO", "Kato", "Smith", "Smith", "Smith", "Kato", "Kato", "Kato"],
        "date_of_birth": [born, born, born, dt.date(1990, 11, 20), dt.date(1971, 2, 1),
                          dt.date(1971, 8, 9), dt.date(1971, 2, 1), dt.date(1991, 5, 3),
                          dt.date(1990, 7, 7), dt.date(1985, 7, 7)],
        "sex": ["M"] * 8 + ["F", "F"],
        "citizenship": ["JPN"] * 4 + ["NZL", "AUS", "NZL", "JPN", "JPN", "JPN"]})
    kinds = dict(person_kinds(persons).iter_rows())
    assert kinds == {"1": "lookalike", "2": "lookalike", "3": "near_lookalike",
                     "4": "namesake_same_year", "5": "first_name_same_year",
                     "6": "first_name_same_year", "7": "other", "8": "other", "9": "other",
                     "10": "other"}


def test_standardised_share_by_hand():
    from reglink.linkage.evaluate import STANDARD_KIND_PERSONS, standardised_share

    by_kind = {"lookalike": {"persons": 10, "merged_share": 0.5},
               "other": {"persons": 990, "merged_share": 0.001}}
    # weights 1 : 3 -> (0.5 + 3 * 0.001) / 4
    assert standardised_share(by_kind, standard={"lookalike": 1, "other": 3}) == (0.5 + 0.003) / 4
    # a kind the population does not hold is left out, the others' weights scaled up
    assert standardised_share(by_kind, standard={"lookalike": 1, "near_lookalike": 6, "other": 3}) \
        == (0.5 + 0.003) / 4
    assert standardised_share({"other": {"persons": 0, "merged_share": 0.0}}) is None
    # a population of the standard's own mix gets its crude share back
    rates = {"lookalike": 0.5, "near_lookalike": 0.05, "namesake_same_year": 0.002,
             "first_name_same_year": 0.0005, "other": 0.0001}
    own = {k: {"persons": n, "merged_share": rates[k]} for k, n in STANDARD_KIND_PERSONS.items()}
    crude = sum(rates[k] * n for k, n in STANDARD_KIND_PERSONS.items()) / sum(STANDARD_KIND_PERSONS.values())
    assert abs(standardised_share(own) - crude) < 1e-15


def test_person_figures_per_kind_and_standardised():
    # the kinds of test_person_kinds_by_hand among persons with records: 1 and 2 (look-alikes)
    # merged under K, 4 (namesake of the same year) whole, 7 (other) split over L and M
    import datetime as dt

    from reglink.linkage.evaluate import STANDARD_KIND_PERSONS

    born = dt.date(1990, 5, 3)
    persons = pl.DataFrame({"person_id": [1, 2, 4, 7], "given_names": ["Takuya", "Takuya", "Takuya", "Peter"],
                            "surname": ["Kato", "Kato", "Kato", "Smith"],
                            "date_of_birth": [born, born, dt.date(1990, 11, 20), dt.date(1971, 2, 1)],
                            "sex": ["M"] * 4, "citizenship": ["JPN", "JPN", "JPN", "NZL"]})
    truth = pl.DataFrame({"source": ["s"] * 5, "record_id": list("abcde"), "person_id": [1, 2, 4, 7, 7]})
    links = pl.DataFrame({"source": ["s"] * 5, "record_id": list("abcde"),
                          "person_key": ["K", "K", "N", "L", "M"]})
    m = pairwise_metrics(links, truth, persons=persons)
    bk = m["by_kind"]
    assert set(bk) == {"lookalike", "namesake_same_year", "other"}
    assert (bk["lookalike"]["persons"], bk["lookalike"]["merged"], bk["lookalike"]["merged_share"]) == (2, 2, 1.0)
    assert (bk["namesake_same_year"]["merged_share"], bk["namesake_same_year"]["exact_share"]) == (0.0, 1.0)
    assert (bk["other"]["split_share"], bk["other"]["merged_share"]) == (1.0, 0.0)
    assert bk["lookalike"]["share"] == 0.5
    std = STANDARD_KIND_PERSONS
    held = std["lookalike"] + std["namesake_same_year"] + std["other"]
    assert m["merged_share"] == 0.5
    assert m["merged_share_standardised"] == std["lookalike"] * 1.0 / held
    assert m["split_share_standardised"] == std["other"] * 1.0 / held


def test_person_figures_per_category_column():
    # key K merges 1 (CHN, namesake) and 2 (CHN); 3 (NZL) is split over L and M; 4 (NZL) whole
    truth = pl.DataFrame({"source": ["s"] * 5, "record_id": list("abcde"), "person_id": [1, 2, 3, 3, 4]})
    links = pl.DataFrame({"source": ["s"] * 5, "record_id": list("abcde"),
                          "person_key": ["K", "K", "L", "M", "N"]})
    by = pl.DataFrame({"person_id": [1, 2, 3, 4], "hard_case": ["namesake", "", "", ""],
                       "citizenship": ["CHN", "CHN", "NZL", "NZL"]})
    m = pairwise_metrics(links, truth, by=by)
    assert m["by_citizenship"] == {"CHN": {"persons": 2, "exact_share": 0.0, "split": 0, "merged": 2},
                                   "NZL": {"persons": 2, "exact_share": 0.5, "split": 1, "merged": 0}}
    assert m["by_hard_case"]["namesake"] == {"persons": 1, "exact_share": 0.0, "split": 0, "merged": 1}


def test_expected_persons_not_exact_per_citizenship_by_hand():
    # clusters A (CHN, whole with probability 0.5, one node holding two records), B (CHN,
    # 1.0), C (nodes CHN, KOR, CHN: counted as CHN, 0.8), D (NZL, 0.9) and E (no citizenship,
    # 1.0); with at least 2 persons per shown group, NZL and the unknown one are summed in
    # "other"
    import duckdb

    from reglink.linkage.quality import expected_by_citizenship_sql

    con = duckdb.connect()
    con.execute("""CREATE TABLE nodes AS SELECT * FROM (VALUES ('a1', 'CHN'), ('b1', 'CHN'),
        ('c1', 'CHN'), ('c2', 'KOR'), ('c3', 'CHN'), ('d1', 'NZL'), ('e1', NULL)) t(unique_id, citizenship)""")
    con.execute("""CREATE TABLE rn AS SELECT * FROM (VALUES ('A', 'a1'), ('A', 'a1'), ('B', 'b1'),
        ('C', 'c1'), ('C', 'c2'), ('C', 'c3'), ('D', 'd1'), ('E', 'e1')) t(cluster_id, node_id)""")
    con.execute("""CREATE TABLE ex AS SELECT * FROM (VALUES ('A', 0.5), ('B', 1.0), ('C', 0.8),
        ('D', 0.9), ('E', 1.0)) t(cluster_id, p)""")
    got = {r[0]: r[1:] for r in con.sql(expected_by_citizenship_sql("nodes", "rn", "ex", min_persons=2)).fetchall()}
    assert set(got) == {"CHN", "other"}
    assert got["CHN"][0] == 3 and abs(got["CHN"][1] - 0.7) < 1e-12 and abs(got["CHN"][2] - 0.7 / 3) < 1e-12
    assert got["other"][0] == 2 and abs(got["other"][1] - 0.1) < 1e-12
    # the riskiest group comes first
    assert [r[0] for r in con.sql(expected_by_citizenship_sql("nodes", "rn", "ex", min_persons=2)).fetchall()] == ["CHN", "other"]


def test_node_probability_weighs_rival_persons_by_hand():
    """A node's probability of belonging to its person, against every person it was compared
    with (exclusive hypotheses, odds 2**w of the strongest pair into each cluster)."""
    from reglink.linkage.link import node_probability

    nodes = pl.DataFrame({"node_id": ["a", "b", "c", "d", "e", "f", "g"],
                          "cluster_id": ["A", "A", "B", "B", "E", "F", "G"],
                          "n_records": [1, 1, 1, 1, 1, 1, 3]})
    pairs = pl.DataFrame({"node_l": ["a", "a", "c", "e", "b", "g"],
                          "node_r": ["b", "c", "d", "d", "d", "c"],
                          "match_weight": [10.0, 10.0, 10.0, -3.0, 1.0, 2.0]})
    p = dict(node_probability(nodes, pairs).iter_rows())
    # a: own cluster at 10 bits (odds 1024), namesake's cluster B as strong: a coin toss
    assert abs(p["a"] - 1024 / (1 + 1024 + 1024)) < 1e-12
    # b: only its own cluster (1024) and a weak rival (2): nearly Splink's own 1024/1025
    assert abs(p["b"] - 1024 / (1 + 1024 + 2)) < 1e-12
    # c: own 1024, rivals A (a, 1024) and G (g, 4); d: own 1024, rivals A (b, 1 bit: odds 2)
    # and E (e, -3 bits: odds 1/8)
    assert abs(p["c"] - 1024 / (1 + 1024 + 1024 + 4)) < 1e-12
    assert abs(p["d"] - 1024 / (1 + 1024 + 2 + 0.125)) < 1e-12
    # e alone: one minus Splink's probability of its only (rejected) candidate
    assert abs(p["e"] - 1 / (1 + 0.125)) < 1e-12
    # f: alone and never compared; g: a deterministic group alone counts as whole
    assert p["f"] == 1.0 and p["g"] == 1.0
    # one candidate, linked: exactly Splink's match probability 1 / (1 + 2**-w)
    two = node_probability(pl.DataFrame({"node_id": ["x", "y"], "cluster_id": ["X", "X"],
                                         "n_records": [1, 2]}),
                           pl.DataFrame({"node_l": ["x"], "node_r": ["y"], "match_weight": [5.0]}))
    assert all(abs(v - 1 / (1 + 2 ** -5)) < 1e-12 for v in two["match_probability"])


def test_contradicting_dates_are_no_rival_by_hand():
    """Scored pairs whose complete dates of birth cannot be one person's (a typo and a
    day/month swap can; 1 January is no complete date) are listed as impossible."""
    from reglink.linkage.constraints import contradicting_pairs

    def node(uid, y, m, d):
        return {"unique_id": uid, "dob_year": y, "dob_month": m, "dob_day": d}
    nodes = _std([node("a", 1980, 5, 7), node("b", 1980, 11, 3),  # another date
                  node("c", 1980, 5, 8),                           # one digit apart
                  node("d", 1980, 7, 5),                           # day and month swapped
                  node("e", 1980, None, None),                     # the year alone
                  node("f", 1980, 1, 1)])                          # 1 January: no complete date
    pairs = pl.DataFrame({"node_l": ["a", "a", "a", "a", "a"], "node_r": ["b", "c", "d", "e", "f"]})
    got = contradicting_pairs(pairs, nodes, typos=True)
    assert got.rows() == [("a", "b")]
    # where the model says one person's dates are not mistyped digit by digit, a typo vetoes too
    assert sorted(contradicting_pairs(pairs, nodes, typos=False).rows()) == [("a", "b"), ("a", "c")]


def test_jan1_placeholder_is_read_as_the_year_by_hand():
    # register A: 1 of 300 complete dates on 1 January (the calendar's share) -- kept; B: 60 of
    # 300 (a placeholder) -- its 1 January dates become the year alone, its other dates and
    # A's 1 January stay; C: 1 of 40 -- 2.5 %, but too few dates to tell (the bound is below 2 %)
    import duckdb

    from reglink.linkage.prepare import jan1_as_year_sql, jan1_counts_sql, jan1_placeholder_sources

    con = duckdb.connect()
    con.execute("""CREATE TABLE r AS
        SELECT 'A' AS source, 1990 AS dob_year, CASE WHEN i = 0 THEN 1 ELSE 5 END AS dob_month,
               CASE WHEN i = 0 THEN 1 ELSE 7 END AS dob_day, i FROM range(300) t(i)
        UNION ALL SELECT 'B', 1980, CASE WHEN i < 60 THEN 1 ELSE 3 END, CASE WHEN i < 60 THEN 1 ELSE 9 END, i
        FROM range(300) t(i)
        UNION ALL SELECT 'B', 1981, NULL, NULL, 300
        UNION ALL SELECT 'C', 1970, CASE WHEN i < 1 THEN 1 ELSE 2 END, CASE WHEN i < 1 THEN 1 ELSE 2 END, i
        FROM range(40) t(i)""")
    counts = con.execute(jan1_counts_sql("r")).fetchall()
    assert counts == [("A", 300, 1), ("B", 300, 60), ("C", 40, 1)]
    assert jan1_placeholder_sources(counts) == ["B"]
    out = con.sql(jan1_as_year_sql("r", ["B"]) + " ORDER BY source, i").pl()
    b = out.filter(pl.col("source") == "B")
    assert b.filter(pl.col("i") < 60)["dob_month"].is_null().all() and b.filter(pl.col("i") < 60)["dob_day"].is_null().all()
    assert b.filter(pl.col("i") < 60)["dob_year"].to_list() == [1980] * 60
    assert b.filter(pl.col("i").is_between(60, 299))["dob_month"].to_list() == [3] * 240
    assert out.filter((pl.col("source") == "A") & (pl.col("i") == 0)).select("dob_month", "dob_day").row(0) == (1, 1)
    assert out.filter(pl.col("source") == "C")["dob_month"].to_list() == [1] + [2] * 39
    assert con.sql(jan1_as_year_sql("r", [])).pl().equals(con.sql("SELECT * FROM r").pl())


def test_jan1_placeholder_links_the_asylum_record_to_its_traveller():
    """An asylum register writing unknown dates as 1 January: its record of SARA OTHMAN, born
    in 1997 (written 1997-01-01), carries her passport number; her crossing gives the true date.
    Read as the year alone the dates agree and the two are one person; read as written they are
    two complete dates that contradict, and she would be two persons."""
    from reglink.linkage import link_frames
    from reglink.linkage.pipeline import CONFIG_DIR

    def person(rid, name, surname, y, m, d, doc):
        return {**_traveller(rid, doc=doc, country="AFG", y=y, m=m, d=d, name=name),
                "surname_std": surname, "full_name_std": f"{name} {surname}"}

    # 40 of the register's 140 dates on 1 January (the placeholder), the rest spread
    asylum = _std([person(f"a{i}", f"NAME{i}", "KHAN", 1950 + i, 1, 1, f"AA{100000 + i}") for i in range(40)]
                  + [person(f"b{i}", f"OTHER{i}", "HADDAD", 1950 + i % 40, 1 + i % 12, 2 + i % 27, f"BB{100000 + i}")
                     for i in range(99)]
                  + [person("sara", "SARA", "OTHMAN", 1997, 1, 1, "QE1808724")])
    crossing = _std([person("x1", "SARA", "OTHMAN", 1997, 10, 12, "QE1808724")])
    res = link_frames({"asylum_register": asylum, "border_crossings": crossing},
                      model_path=CONFIG_DIR / "model-v1.json")
    assert res.stats["dob_jan1_as_year"] == ["asylum_register"]
    k = dict(res.person_links.select("record_id", "person_key").iter_rows())
    assert k["sara"] == k["x1"]
    assert len({k[f"a{i}"] for i in range(40)}) == 40  # the year alone joins nobody else


def test_tiny_delivery_one_register_and_two():
    """Three records: identical ones collapse, the prior falls back sanely, and a second
    register with a one-letter name variant links to the first."""
    from reglink.linkage import link_frames
    from reglink.linkage.pipeline import CONFIG_DIR

    std = _std([{**_traveller("1", doc=None), "citizenship": "FRA"},
                {**_traveller("2", doc=None), "citizenship": "FRA"},
                {**_traveller("3", doc=None, name="JOHN", y=1950, sex="M"), "surname_std": "SMITH",
                 "full_name_std": "JOHN SMITH"}])
    one = link_frames({"permits": std}, model_path=CONFIG_DIR / "model-v1.json").person_links
    k = dict(one.select("record_id", "person_key").iter_rows())
    assert k["1"] == k["2"] != k["3"]
    other = std.with_columns(pl.col("given_names_std").replace({"ANNE": "ANN"}))
    two = link_frames({"permits": std, "asylum_register": other},
                      model_path=CONFIG_DIR / "model-v1.json").person_links
    assert two["person_key"].n_unique() == 2 and two.height == 6


def test_blocking_finds_each_kind_of_error_without_broad_blocks():
    """Each rule joins on two fields or more, a document or an address, or starts from the few
    records lacking a DOB or sex, so no block grows with the population; together the rules
    still find the usual register errors (docs/linkage.md, "Blocking rules")."""
    import re

    from splink import DuckDBAPI, Linker

    from reglink.linkage.link import NODE_FIELDS
    from reglink.linkage.model import blocking_rules, load_settings
    from reglink.linkage.pipeline import CONFIG_DIR

    for rule in blocking_rules():
        sql = rule if isinstance(rule, str) else rule.get_blocking_rule("duckdb").blocking_rule_sql
        joins = (re.findall(r"\bl\.\"?(\w+)\"?\s*=\s*r\.", sql)
                 + re.findall(r"substr\w*\(l\.(\w+)", sql, flags=re.IGNORECASE))
        one_sided = re.search(r"\b[lr]\.\w+ IS NULL", sql)
        narrow = joins in (["document_number_std"], ["address_std"])  # one holder, one household
        assert len(joins) >= 2 or (one_sided and joins) or narrow, sql

    def rec(rid, given, surname, y, m, d, sex="M"):
        return {"record_id": rid, "given_names_std": given, "surname_std": surname,
                "full_name_std": " ".join(sorted(f"{given} {surname}".split())),
                "dob_year": y, "dob_month": m, "dob_day": d, "sex": sex, "citizenship": "CHN"}

    pairs = {  # kind -> two records of one person
        "given/surname swapped, romanisation variant": (
            rec("a1", "HAEUN", "CHOI", 1976, 2, 28, "F"), rec("a2", "CHEY", "HA EUN", 1976, 2, 28, "F")),
        "both names romanised differently": (
            rec("b1", "QIANG", "ZHAO", 1981, 10, 12), rec("b2", "CHIANG", "CHAO", 1981, 10, 12)),
        "birth year mistyped": (
            rec("c1", "WEI", "ZHANG", 1984, 2, 19), rec("c2", "WEI", "ZHANG", 1948, 2, 19)),
        "day and month swapped, surname variant": (
            rec("d1", "JOHN", "SMITH", 1990, 3, 7), rec("d2", "JON", "SMYTH", 1990, 7, 3)),
        "partial date, given name variant": (
            rec("e1", "CHALED", "NOURI", 1999, None, None), rec("e2", "KHALED", "NOURI", 1999, 5, 11)),
        "1 January placeholder, given name variant": (
            rec("f1", "KSENIIA", "SOKOLOV", 1968, 1, 1, "F"), rec("f2", "XENIA", "SOKOLOV", 1968, 2, 22, "F")),
        "no date of birth": (
            rec("g1", "RILEY", "BREHENY", None, None, None), rec("g2", "RILEY", "BTEHENY", 1957, 12, 31)),
    }
    rows = [r for pair in pairs.values() for r in pair]
    nodes = add_derived(align("permits", _std(rows))).with_columns(
        pl.col("record_id").alias("unique_id")).select("unique_id", *NODE_FIELDS)
    linker = Linker(DuckDBAPI().register(nodes.to_arrow()),
                    load_settings(CONFIG_DIR / "model-v1.json", "dedupe_only"))
    found = {tuple(sorted(p)) for p in linker.inference.predict(threshold_match_weight=-50)
             .as_duckdbpyrelation().select("unique_id_l, unique_id_r").fetchall()}
    for kind, (x, y) in pairs.items():
        assert tuple(sorted((x["record_id"], y["record_id"]))) in found, kind


def test_broad_keys_only_while_a_block_on_one_stays_small():
    """A block on one name alone is used while it proposes at most the budget's
    comparisons per node: counted by hand, 3 x ANNE (3 pairs) + 2 x JOHN (1) = 4 comparisons
    among 6 nodes; with 30 x ANNE more (33 x ANNE: 528 + 1 = 529 among 36) it drops out."""
    from reglink.linkage.model import BROAD_KEYS, broad_block_counts_sql, broad_keys

    def counts(frame: pl.DataFrame) -> dict[str, int]:
        con = duckdb.connect()
        con.register("n", frame.to_arrow())
        return dict(zip(BROAD_KEYS, con.execute(broad_block_counts_sql("n")).fetchall()[0]))

    cols = {k: [None] * 6 for k in BROAD_KEYS}
    cols["given_first"] = ["ANNE", "ANNE", "ANNE", "JOHN", "JOHN", None]
    nodes = pl.DataFrame(cols, schema={k: pl.String for k in BROAD_KEYS})
    c = counts(nodes)
    assert c["given_first"] == 4 and c["surname_std"] == 0
    assert broad_keys(c, 6, budget=1) == list(BROAD_KEYS)     # 4 <= 6
    assert "given_first" not in broad_keys(c, 6, budget=0.5)  # 4 > 3
    nodes = pl.concat([nodes, pl.DataFrame({k: (["ANNE"] * 30 if k == "given_first" else [None] * 30)
                                            for k in BROAD_KEYS}, schema=nodes.schema)])
    c = counts(nodes)
    assert c["given_first"] == 529
    assert "given_first" not in broad_keys(c, 36) and "surname_std" in broad_keys(c, 36)


def test_a_small_delivery_compares_a_pair_only_a_broad_key_finds():
    """The same first name and locality, surname missing on one side, year and month of birth
    wrong: no rule on a name and a date part or a place finds this pair; in a delivery this
    small the block on the first name alone does (and says so in the run's statistics)."""
    from reglink.linkage import link_frames
    from reglink.linkage.pipeline import CONFIG_DIR

    def rec(rid, given, surname, dob, locality):
        return {"record_id": rid, "given_names": given, "surname": surname,
                "date_of_birth": dob, "locality": locality, "permit_kind": "RESIDENCE",
                "valid_from": "2020-01-01"}

    from reglink.linkage.inputs import standardise_minimal

    raw = pl.DataFrame([rec("1", "Robert", "Allen", "1971-06-24", "London"),
                        rec("2", "Robert", None, "1972-08-24", "London"),
                        rec("3", "Grace", "Kelly", "1997-04-26", "Hull"),
                        rec("4", "Isla", "Hall", "1985-02-07", "Leeds")])
    res = link_frames({"permits": standardise_minimal("permits", raw)},
                      model_path=CONFIG_DIR / "model-v1.json")
    node = dict(res.node_of_record.select("record_id", "node_id").iter_rows())
    found = {tuple(sorted(p)) for p in res.pairs.select("node_l", "node_r").iter_rows()}
    assert tuple(sorted((node["1"], node["2"]))) in found
    assert "given_first" in res.stats["blocking_broad_keys"]
    from reglink.linkage.quality import quality_tables

    summary = quality_tables(res)["quality_linkage_summary"]
    row = summary.filter(pl.col("metric") == "blocks_on_one_name").row(0, named=True)
    assert row["value"] == len(res.stats["blocking_broad_keys"]) and "given_first" in row["meaning"]
