"""Hard cases of person linkage (issue 14): namesakes, twins, parents and children with the
same name — each linked right — and the cannot-link constraints that keep contradicting
records apart (docs/linkage.md "Evidence against a match")."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from reglink.linkage import link_frames
from reglink.linkage.evaluate import person_status
from reglink.linkage.inputs import extracts_in, std_frames_from_extracts
from reglink.linkage.prepare import linkage_columns
from reglink.linkage.constraints import (constrained_clusters, dob_contradicts, dob_typos_tolerated,
                                         travel_contradictions)
from reglink.linkage.pipeline import CONFIG_DIR

MODEL = CONFIG_DIR / "model-v1.json"
DOB = {"dob_year": pl.Int32, "dob_month": pl.Int32, "dob_day": pl.Int32}
CASE_ID = 1_000_000  # the hand-made persons' ids, above the background world's


def _person(pid: int, given: str, surname: str, dob: str, sex: str, passport: str,
            address: str, postcode: str, crossings: int = 3, partial_crossing: bool = False):
    """A population-register record and border crossings on the person's own passport."""
    pid += CASE_ID
    y, m, d = (int(x) for x in dob.split("-"))
    base = {"given_names_std": given, "surname_std": surname,
            "full_name_std": " ".join(sorted(f"{given} {surname}".split())),
            "dob_year": y, "dob_month": m, "dob_day": d, "sex": sex, "citizenship": "NZL"}
    pop = [{**base, "record_id": f"PR{pid}", "person_number": f"N{pid}",
            "country_of_birth": "NZL", "address_std": address,
            "postcode_std": postcode, "locality_std": "WELLINGTON"}]
    bc = [{**base, "record_id": f"BC{pid}-{k}", "document_number_std": passport,
           "document_country": "NZL", "crossing_date": dt.date(2021, 2 + 3 * k, 15)}
          for k in range(crossings)]
    if partial_crossing:  # a crossing with the birth year only, on the same passport
        bc.append({**base, "record_id": f"BC{pid}-y", "dob_month": None, "dob_day": None,
                   "document_number_std": passport, "document_country": "NZL",
                   "crossing_date": dt.date(2022, 8, 1)})
    return pid, pop, bc


CASES = {
    # two citizens with the same name, sex and citizenship, born in the same year
    "namesakes": [
        _person(1, "JOHN", "SMITH", "1946-06-23", "M", "LA1111111", "12 KENT TERRACE", "6011",
                partial_crossing=True),
        _person(2, "JOHN", "SMITH", "1946-11-29", "M", "LA2222222", "4 ABEL SMITH STREET", "6011",
                partial_crossing=True),
    ],
    # twins: one surname, one date of birth, different given names, each on their own passport
    # (registered at different addresses: see test_twins_sharing_an_address for one address)
    "twins": [
        _person(3, "EMMA", "WILSON", "2015-03-02", "F", "LB3333333", "7 AVA STREET", "6012"),
        _person(4, "OLIVIA", "WILSON", "2015-03-02", "F", "LB4444444", "19 HILL STREET", "6011"),
    ],
    # father and son with the same name at the same address (Sr. / Jr.)
    "parent and child": [
        _person(5, "JAMES", "BROWN", "1950-02-11", "M", "LC5555555", "88 RATA ROAD", "6021"),
        _person(6, "JAMES", "BROWN", "1978-05-30", "M", "LC6666666", "88 RATA ROAD", "6021"),
    ],
}


@pytest.fixture(scope="module")
def background(tmp_path_factory):
    """A small synthetic world the cases are delivered with: the model's prior (how likely two
    random records match) is then that of a population, not of six people."""
    from reglink.synth.generate import generate

    out = tmp_path_factory.mktemp("hardworld")
    generate(out, persons=400, years=6, seed=3)
    std = std_frames_from_extracts(extracts_in(out))
    truth = pl.read_parquet(out / "truth" / "record_person.parquet").select(
        "source", "record_id", pl.col("person_id").cast(pl.Int64))
    return std, truth


def _frames(people, background):
    pop = [r for _, p, _ in people for r in p]
    bc = [r for _, _, b in people for r in b]
    truth = [{"source": "population_register", "record_id": r["record_id"], "person_id": pid}
             for pid, p, _ in people for r in p]
    truth += [{"source": "border_crossings", "record_id": r["record_id"], "person_id": pid}
              for pid, _, b in people for r in b]
    std, world_truth = background
    std = dict(std)
    for source, rows in (("population_register", pop), ("border_crossings", bc)):
        cols = linkage_columns(source, std[source].columns)
        std[source] = pl.concat([std[source].select(cols), pl.DataFrame(rows, schema_overrides=DOB)],
                                how="diagonal_relaxed")
    return std, pl.concat([world_truth, pl.DataFrame(truth, schema_overrides={"person_id": pl.Int64})])


def _case_status(people, background):
    std, truth = _frames(people, background)
    st = person_status(link_frames(std, model_path=MODEL).person_links, truth)
    return st.filter(pl.col("t").cast(pl.Int64) >= CASE_ID)


def test_each_hard_case_is_linked_right(background):
    for name, people in CASES.items():
        st = _case_status(people, background)
        assert st.height == len(people) and st["exact"].all(), (name, st)


def test_all_hard_cases_together_are_linked_right(background):
    st = _case_status([p for people in CASES.values() for p in people], background)
    assert st.height == 6 and st["exact"].all(), st


def _resident(pid: int, number: str | None, address: str, postcode: str, locality: str,
              given: str = "MERE"):
    """A population-register record of a resident who did not travel."""
    return CASE_ID + pid, [{
        "record_id": f"PR{CASE_ID + pid}", "person_number": number, "given_names_std": given,
        "surname_std": "NGATA", "full_name_std": " ".join(sorted([given, "NGATA"])),
        "dob_year": 1984, "dob_month": 9, "dob_day": 3, "sex": "F", "citizenship": "NZL",
        "country_of_birth": "NZL", "address_std": address, "postcode_std": postcode,
        "locality_std": locality}], []


def _pair_weight(people, background) -> tuple[float, pl.DataFrame]:
    std, _ = _frames(people, background)
    res = link_frames(std, model_path=MODEL)
    ids = [f"population_register:{p[0]['record_id']}" for _, p, _ in people]
    w = res.pairs.filter(pl.col("node_l").is_in(ids) & pl.col("node_r").is_in(ids))["match_weight"]
    assert w.len() == 1
    return float(w[0]), res.parameters


def test_two_numbers_of_the_population_register_count_against_a_match(background):
    # two residents with one name, date of birth, sex and citizenship, in two towns: the
    # register keeps one number per person, so two numbers are two registrations, rarely one
    # person's duplicate; the register's number reaches the model from the std table
    # (prepare.OWN_NUMBER) and the pair weighs the learned level less than without numbers
    def two(n1, n2):
        return [_resident(21, n1, "14 RANOLF STREET", "3010", "ROTORUA"),
                _resident(22, n2, "3 KOUTU ROAD", "6011", "WELLINGTON")]

    without, params = _pair_weight(two(None, None), background)
    with_numbers, _ = _pair_weight(two("N7000001", "N7000002"), background)
    level = {r["level"]: r["match_weight"] for r in
             params.filter(pl.col("comparison") == "register_number").iter_rows(named=True)}
    expected = level["two numbers of one register"] - level["not both from one numbered register"]
    assert expected < -5
    assert with_numbers - without == pytest.approx(expected, abs=0.01)
    same, _ = _pair_weight(two("N7000001", "N7000001"), background)
    assert same - without == pytest.approx(
        level["same register number"] - level["not both from one numbered register"], abs=0.01)
    assert same > without > with_numbers


def test_a_resident_whose_record_moved_under_one_number_is_one_person(background):
    # the same person number at a new address and with a new given-name spelling
    pid, rows, _ = _resident(23, "N7000003", "14 RANOLF STREET", "3010", "ROTORUA")
    moved = {**rows[0], "record_id": f"PR{pid}b", "address_std": "77 AMOHAU STREET",
             "postcode_std": "3015", "given_names_std": "MEREANA", "full_name_std": "MEREANA NGATA"}
    st = _case_status([(pid, [rows[0], moved], [])], background)
    assert st.height == 1 and st["exact"].all(), st


def test_twins_sharing_an_address(background):
    # the model counts a shared address, postcode and locality as independent evidence (+25
    # bits), more than wholly different given names weigh against, so the twins' register
    # records are one cluster with both passports; the split grows each twin's part from her
    # passport (the records in dispute), and each register record joins the passport it
    # matches best before the two register records are compared
    twins = [_person(3, "EMMA", "WILSON", "2015-03-02", "F", "LB3333333", "7 AVA STREET", "6012"),
             _person(4, "OLIVIA", "WILSON", "2015-03-02", "F", "LB4444444", "7 AVA STREET", "6012")]
    st = _case_status(twins, background)
    assert st.height == 2 and st["exact"].all(), st


def test_dates_of_birth_that_contradict():
    pairs = pl.DataFrame({"a": ["19460623", "19460623", "19460623", "19460623", "19460623", "19461129"],
                          "b": ["19461129", "19460624", "19460632", "19462306", "19560623", "19461129"]})
    got = pairs.select(dob_contradicts(pl.col("a"), pl.col("b"))).to_series().to_list()
    # a different date; one digit (typo); adjacent digits swapped; day and month swapped;
    # one digit of the year; the same date
    assert got == [True, False, False, False, False, False]
    swap = pl.DataFrame({"a": ["19460611"], "b": ["19461106"]})
    assert swap.select(dob_contradicts(pl.col("a"), pl.col("b"))).item() is False


def test_dates_one_digit_apart_contradict_where_the_model_saw_no_typos():
    import json

    pairs = pl.DataFrame({"a": ["19860520", "19860520", "19860520", "19460611"],
                          "b": ["19860525", "19860502", "19860520", "19461106"]})
    strict = pairs.select(dob_contradicts(pl.col("a"), pl.col("b"), typos=False)).to_series()
    # one digit; two adjacent digits swapped; the same date; day and month swapped
    assert strict.to_list() == [True, True, False, False]
    # the saved model: EM found no digit typos among one person's dates (m at its floor)
    saved = json.loads(MODEL.read_text())
    tolerated, m = dob_typos_tolerated(saved)
    assert not tolerated and m < 0.00021
    for comp in saved["comparisons"]:
        for lv in comp["comparison_levels"]:
            if lv.get("label_for_charts") == "same year, day or month differs":
                lv["m_probability"] = 0.02   # registers where dates are mistyped
    assert dob_typos_tolerated(saved) == (True, 0.02)
    # a cluster of two MISAKI TAKAHASHIs born 1986-05-20 and 1986-05-25 chained by a record
    # with the birth year only: split where typos are not tolerated, kept otherwise
    nodes = _nodes([("a", 1986, 5, 20), ("b", 1986, None, None), ("c", 1986, 5, 25)])
    edges = _pairs([("a", "b", 12.0, 0.9998), ("b", "c", 6.0, 0.985)])
    cc = pl.DataFrame({"node_id": list("abc"), "cluster_id": ["a"] * 3})
    out, log = constrained_clusters(nodes, edges, cc, 0.9, dob_typos=False)
    k = dict(out.iter_rows())
    assert k["a"] == k["b"] != k["c"] and log["reason"].to_list() == ["date of birth 19860520 vs 19860525"]
    assert constrained_clusters(nodes, edges, cc, 0.9)[0]["cluster_id"].n_unique() == 1


def _nodes(rows):
    """(unique_id, year, month, day[, document, first day seen, last day seen])"""
    full = [(*r[:4], r[4] if len(r) > 4 else None, "NZL" if len(r) > 4 else None,
             dt.date.fromisoformat(r[5]) if len(r) > 4 else None,
             dt.date.fromisoformat(r[6]) if len(r) > 4 else None) for r in rows]
    return pl.DataFrame(full, schema={"unique_id": pl.String, "dob_year": pl.Int32,
                                      "dob_month": pl.Int32, "dob_day": pl.Int32,
                                      "document_number_std": pl.String, "document_country": pl.String,
                                      "first_seen": pl.Date, "last_seen": pl.Date}, orient="row")


def _pairs(rows):
    return pl.DataFrame(rows, schema={"node_l": pl.String, "node_r": pl.String,
                                      "match_weight": pl.Float64, "match_probability": pl.Float64},
                        orient="row")


def test_a_chain_through_a_partial_date_is_cut_at_its_weakest_link():
    # a (1946-06-23) - b (1946, year only) - c (1946-11-29), and d (1946-06-23) beside a
    nodes = _nodes([("a", 1946, 6, 23), ("b", 1946, None, None), ("c", 1946, 11, 29),
                    ("d", 1946, 6, 23), ("e", 1980, 1, 1)])
    pairs = _pairs([("a", "b", 12.0, 0.9998), ("b", "c", 6.0, 0.985), ("a", "d", 20.0, 0.99999),
                    ("c", "e", -3.0, 0.1)])
    cc = pl.DataFrame({"node_id": list("abcde"), "cluster_id": ["a"] * 4 + ["e"]})
    out, log = constrained_clusters(nodes, pairs, cc, 0.9)
    k = dict(out.iter_rows())
    assert k["a"] == k["b"] == k["d"] != k["c"] and k["e"] == "e"
    assert log.height == 1 and log["reason"][0] == "date of birth 19460623 vs 19461129"
    assert log["weight_between"][0] == 6.0


def test_typos_swaps_and_placeholders_do_not_split():
    # a / b: day and month swapped; a / d: 1 January placeholder; c / e: a typo in one digit
    # and two adjacent digits swapped (1946-06-21 / 1946-06-12)
    nodes = _nodes([("a", 1946, 6, 11), ("b", 1946, 11, 6), ("d", 1946, 1, 1),
                    ("c", 1946, 6, 21), ("e", 1946, 6, 12), ("f", 1946, 6, 22)])
    pairs = _pairs([("a", "b", 10.0, 0.999), ("a", "d", 8.0, 0.99),
                    ("c", "e", 10.0, 0.999), ("c", "f", 10.0, 0.999)])
    cc = pl.DataFrame({"node_id": list("abdcef"), "cluster_id": ["a"] * 3 + ["c"] * 3})
    out, log = constrained_clusters(nodes, pairs, cc, 0.9)
    assert out["cluster_id"].n_unique() == 2 and log.height == 0


def test_two_parts_that_contradict_are_never_joined_by_a_third():
    # x and y contradict; z links to both, more strongly to y: z stays with y
    nodes = _nodes([("x", 1970, 3, 4), ("y", 1970, 8, 19), ("z", 1970, None, None)])
    pairs = _pairs([("x", "z", 9.0, 0.999), ("y", "z", 15.0, 0.99999)])
    cc = pl.DataFrame({"node_id": list("xyz"), "cluster_id": ["x"] * 3})
    out, log = constrained_clusters(nodes, pairs, cc, 0.9)
    k = dict(out.iter_rows())
    assert k["y"] == k["z"] != k["x"] and log.height == 1


def test_two_passports_of_one_state_in_use_at_once_are_two_people():
    # twins: one date of birth, their own passports used over the same years; a renewal (r2
    # after r1) and a typo of a number (t1) are one person
    nodes = _nodes([("a", 2015, 3, 2, "LB3333333", "2020-01-05", "2024-07-01"),
                    ("b", 2015, 3, 2, "LB4444444", "2020-01-05", "2024-07-01"),
                    ("p", 2015, 3, 2, "LB3333333", "2021-01-01", "2021-01-01"),
                    ("r1", 1960, 5, 5, "LC1000000", "2019-01-01", "2021-03-01"),
                    ("r2", 1960, 5, 5, "LC2999999", "2021-05-01", "2025-01-01"),
                    ("t1", 1960, 5, 5, "LC1000060", "2020-02-02", "2020-02-02")])
    pairs = _pairs([("a", "p", 20.0, 0.99999), ("b", "p", 18.0, 0.99998),
                    ("r1", "r2", 14.0, 0.9999), ("r1", "t1", 16.0, 0.9999)])
    cc = pl.DataFrame({"node_id": ["a", "b", "p", "r1", "r2", "t1"], "cluster_id": ["a"] * 3 + ["r1"] * 3})
    out, log = constrained_clusters(nodes, pairs, cc, 0.9)
    k = dict(out.iter_rows())
    assert k["a"] == k["p"] != k["b"] and k["r1"] == k["r2"] == k["t1"]
    assert log.height == 1 and "LB3333333 and LB4444444" in log["reason"][0]


def test_the_split_grows_parts_around_the_disputed_records_first():
    """Twins at one address, by hand. Nodes (all born 2015-03-02, so no date is in dispute):
    e_pass / o_pass: each twin's passport (LB3333333 / LB4444444, NZL, used 2020-2024);
    o_typo: Olivia's passport mistyped (LB4444445: one character from hers, so hers, but not
    Emma's); e_reg / o_reg: their register records; e_permit: Emma's permit (birth year only),
    which matches both register records and no passport. Edges (weight): e_reg-o_reg 25.7 (one
    address), e_pass-e_reg 20.7, o_pass-o_reg 19.3, o_pass-o_typo 18, e_permit-e_reg 12,
    e_permit-o_reg 11, e_pass-o_reg 5, o_pass-e_reg 5; e_pass-o_pass 1.5 is below the
    threshold (p 0.74).

    Anchors (records carrying a contradiction): e_pass, o_pass, o_typo (Emma's passport
    against each of Olivia's, in use at once). 1) Anchors merge where they do not contradict:
    o_pass + o_typo (18). 2) Free records join the anchored part they match best directly:
    e_reg -> e_pass (20.7 > 5), o_reg -> o_pass (19.3 > 5); e_permit has no edge to an anchor
    yet, and in the next round joins Emma's part (12, through e_reg) rather than Olivia's (11,
    through o_reg). 3) The two parts are joined by 25.7 but contradict: two people, one split
    logged. Strongest edge first (the former order) merged e_reg + o_reg (25.7) first, and
    the register part then went with e_pass (20.7 > 19.3): both register records with Emma.
    """
    nodes = _nodes([("e_pass", 2015, 3, 2, "LB3333333", "2020-01-05", "2024-07-01"),
                    ("o_pass", 2015, 3, 2, "LB4444444", "2020-01-05", "2024-07-01"),
                    ("o_typo", 2015, 3, 2, "LB4444445", "2022-03-01", "2022-03-01"),
                    ("e_reg", 2015, 3, 2), ("o_reg", 2015, 3, 2), ("e_permit", 2015, None, None),
                    ("z", 1980, 7, 7)])
    pairs = _pairs([("e_reg", "o_reg", 25.7, 0.99999), ("e_pass", "e_reg", 20.7, 0.99999),
                    ("o_pass", "o_reg", 19.3, 0.99999), ("o_pass", "o_typo", 18.0, 0.99999),
                    ("e_permit", "e_reg", 12.0, 0.9998), ("e_permit", "o_reg", 11.0, 0.9995),
                    ("e_pass", "o_reg", 5.0, 0.97), ("o_pass", "e_reg", 5.0, 0.97),
                    ("e_pass", "o_pass", 1.5, 0.74)])
    cc = pl.DataFrame({"node_id": ["e_pass", "o_pass", "o_typo", "e_reg", "o_reg", "e_permit", "z"],
                       "cluster_id": ["c"] * 6 + ["z"]})
    out, log = constrained_clusters(nodes, pairs, cc, 0.9)
    k = dict(out.iter_rows())
    assert k["e_pass"] == k["e_reg"] == k["e_permit"] == "c~1"
    assert k["o_pass"] == k["o_typo"] == k["o_reg"] == "c~2" and k["z"] == "z"
    assert log.rows() == [("c", "e_pass", "o_pass", "c~1", "c~2",
                           "documents LB3333333 and LB4444444 of NZL in use at the same time", 25.7)]


def test_the_saved_model_is_fitted_to_the_delivery_and_says_why(background):
    import json

    from reglink.linkage import model as mdl
    from reglink.linkage.quality import quality_tables

    std, _ = background
    never = link_frames(std, model_path=MODEL, refit="never")
    assert never.stats["model_used"] == "saved"
    res = link_frames(std, model_path=MODEL, refit="always")
    assert res.stats["model_used"] in ("re-estimated", "saved") and res.stats["model_reason"]
    assert res.stats["model_u_drift_bits"] is not None
    q = quality_tables(res)["quality_linkage_model"]
    assert q.height == 1 and q["reason"][0] == res.stats["model_reason"]
    # the guard: an m that EM moved 16-fold on a level carrying matches keeps the saved model
    saved = json.loads(MODEL.read_text())
    moved = json.loads(MODEL.read_text())
    lv = moved["comparisons"][0]["comparison_levels"][1]
    lv["m_probability"] = lv["m_probability"] / 20
    drift, where = mdl.weight_drift(saved, moved, of="m")
    assert drift > mdl.DRIFT_GUARD_BITS and where.startswith("given_names")
    assert mdl.weight_drift(saved, saved) == (0.0, "")


def _crossings(rows):
    """(cluster, node, day, direction, document) -> a DuckDB relation `x` for the SQL."""
    con = __import__("duckdb").connect()
    con.register("x_frame", pl.DataFrame(
        [(c, n, dt.date.fromisoformat(d), w, doc) for c, n, d, w, doc in rows],
        schema={"cluster_id": pl.String, "node_id": pl.String, "day": pl.Date,
                "direction": pl.String, "doc": pl.String}, orient="row"))
    con.execute("CREATE TABLE x AS SELECT * FROM x_frame")
    return con


def test_impossible_travel_between_two_documents():
    con = _crossings([
        # a / b: one person on two passports (a dual national): the sequence alternates
        ("c1", "a", "2021-01-10", "ENTRY", "P1"), ("c1", "a", "2021-02-10", "EXIT", "P1"),
        ("c1", "b", "2021-03-01", "ENTRY", "Q1"), ("c1", "b", "2021-04-01", "EXIT", "Q1"),
        ("c1", "a", "2021-06-01", "ENTRY", "P1"),
        # d / e: the second passport enters while the first has not left: two people
        ("c2", "d", "2021-01-10", "ENTRY", "P2"), ("c2", "d", "2021-03-01", "EXIT", "P2"),
        ("c2", "e", "2021-02-01", "ENTRY", "Q2"), ("c2", "e", "2021-04-01", "EXIT", "Q2"),
        # f / g: two exits on one day
        ("c3", "f", "2022-05-05", "EXIT", "P3"), ("c3", "g", "2022-05-05", "EXIT", "Q3"),
        # h / i: a renewal after an exit record was lost (h's last entry has no exit): the
        # periods do not overlap, so two entries in a row are a lost record, not two people
        ("c4", "h", "2021-01-01", "ENTRY", "P4"), ("c4", "h", "2021-02-01", "EXIT", "P4"),
        ("c4", "h", "2021-03-01", "ENTRY", "P4"), ("c4", "i", "2021-06-01", "ENTRY", "Q4"),
        ("c4", "i", "2021-07-01", "EXIT", "Q4"),
        # j / k: the same day in and out (a day trip on two passports) is possible
        ("c5", "j", "2023-01-01", "EXIT", "P5"), ("c5", "k", "2023-01-01", "ENTRY", "Q5"),
        # l / m: the same document on two nodes (a typo elsewhere): not two documents
        ("c6", "l", "2021-01-10", "ENTRY", "P6"), ("c6", "m", "2021-02-10", "ENTRY", "P6"),
    ])
    got = travel_contradictions(con, "x")
    assert got.select("node_a", "node_b").rows() == [("d", "e"), ("f", "g")]
    reasons = dict(zip(got["node_a"], got["reason"]))
    assert reasons["d"] == "two ENTRY crossings in a row on two documents: 2021-01-10 and 2021-02-01"
    assert reasons["f"] == "EXIT on 2022-05-05 on documents P3 and Q3"


def test_a_cluster_with_impossible_travel_is_split_and_logged():
    # x and y crossed on two documents in a way one person cannot; z (a register record with
    # no crossings) matches both, more strongly y: x is split off at its weaker link
    nodes = _nodes([("x", 1970, 3, 4), ("y", 1970, 3, 4), ("z", 1970, 3, 4)])
    pairs = _pairs([("x", "z", 9.0, 0.999), ("y", "z", 15.0, 0.99999)])
    cc = pl.DataFrame({"node_id": list("xyz"), "cluster_id": ["x"] * 3})
    travel = pl.DataFrame({"node_a": ["x"], "node_b": ["y"],
                           "reason": ["two ENTRY crossings in a row on two documents: 2021-01-10 and 2021-02-01"]})
    out, log = constrained_clusters(nodes, pairs, cc, 0.9, travel=travel)
    k = dict(out.iter_rows())
    assert k["y"] == k["z"] != k["x"]
    assert log.height == 1 and log["reason"][0].startswith("travel: two ENTRY crossings")
    assert log["weight_between"][0] == 9.0
    # without the travel evidence the cluster stays whole
    assert constrained_clusters(nodes, pairs, cc, 0.9)[0]["cluster_id"].n_unique() == 1


def test_namesakes_whose_travel_interleaves_are_two_people(background):
    # two JOHN SMITHs born the same day, each on a passport whose issuing state was not
    # recorded (so the two documents cannot be compared); their crossings interleave: one
    # enters while the other is still in the country
    def smith(pid, doc, days):
        rows = [{"record_id": f"BC{CASE_ID + pid}-{k}", "given_names_std": "JOHN",
                 "surname_std": "SMITH", "full_name_std": "JOHN SMITH", "dob_year": 1961,
                 "dob_month": 7, "dob_day": 14, "sex": "M", "citizenship": "NZL",
                 "document_number_std": doc, "crossing_date": dt.date.fromisoformat(day),
                 "direction": direction} for k, (day, direction) in enumerate(days)]
        return CASE_ID + pid, [], rows

    people = [smith(11, "LX1111111", [("2021-03-01", "EXIT"), ("2021-03-20", "ENTRY"),
                                      ("2022-01-05", "EXIT"), ("2022-02-01", "ENTRY")]),
              smith(12, "LX2222222", [("2021-03-10", "EXIT"), ("2021-04-02", "ENTRY"),
                                      ("2022-01-10", "EXIT"), ("2022-01-25", "ENTRY")])]
    std, truth = _frames(people, background)
    res = link_frames(std, model_path=MODEL)
    st = person_status(res.person_links, truth).filter(pl.col("t").cast(pl.Int64) >= CASE_ID)
    assert st.height == 2 and st["exact"].all(), st
    assert res.splits.filter(pl.col("reason").str.starts_with("travel: ")).height >= 1


# --- spellings the delivery shows for one person (learned romanisation variants) -------------

def _variant_world(people, background):
    """`people`: (pid, register -> rows) for population register, border crossings and permits;
    each row gets the person's other fields. Delivered with the background world."""
    std, world_truth = background
    std = dict(std)
    truth = []
    for source in ("population_register", "border_crossings", "permits"):
        rows = [r for _, regs in people for r in regs.get(source, [])]
        if not rows:
            continue
        truth += [{"source": source, "record_id": r["record_id"], "person_id": pid}
                  for pid, regs in people for r in regs.get(source, [])]
        cols = linkage_columns(source, std[source].columns)
        std[source] = pl.concat([std[source].select(cols),
                                 pl.DataFrame(rows, schema_overrides=DOB).select(
                                     [c for c in cols if c in rows[0]])], how="diagonal_relaxed")
    return std, pl.concat([world_truth, pl.DataFrame(truth, schema_overrides={"person_id": pl.Int64})])


def _chinese(pid, passport_name, register_name, dob, sex, passport, first_day, address=None,
             permit=True):
    """A traveller whose passport spells the name one way (Pinyin) and whose permit (same
    passport number) or population-register record spells it another (Wade-Giles)."""
    pid += CASE_ID
    y, m, d = (int(x) for x in dob.split("-"))

    def rec(name, rid, **kw):
        given, surname = name.split(" ", 1) if name.count(" ") == 1 else name.rsplit(" ", 1)
        return {"record_id": rid, "given_names_std": given, "surname_std": surname,
                "full_name_std": " ".join(sorted(name.split())), "dob_year": y, "dob_month": m,
                "dob_day": d, "sex": sex, "citizenship": "CHN", "country_of_birth": "CHN", **kw}

    start = dt.date.fromisoformat(first_day)
    regs = {"border_crossings": [
        rec(passport_name, f"BC{pid}-{k}", document_number_std=passport, document_country="CHN",
            crossing_date=start + dt.timedelta(days=40 * k),
            direction="ENTRY" if k % 2 == 0 else "EXIT") for k in range(4)]}
    if permit:
        regs["permits"] = [rec(register_name, f"PM{pid}", document_number_std=passport,
                               document_country="CHN")]
    if address:
        regs["population_register"] = [rec(register_name, f"PR{pid}", address_std=address,
                                           postcode_std="6011", locality_std="WELLINGTON")]
    return pid, regs


def test_spelling_variants_are_learned_from_deterministic_groups():
    import duckdb

    from reglink.linkage.prepare import learn_spelling_variants

    rows = [  # (identity, group, given, surname)
        # three travellers whose passport and permit spell the name two ways: learned
        *[(f"{g}{s}", g, gn, sn) for g in ("g1", "g2", "g3")
          for s, gn, sn in (("p", "JING", "XU"), ("q", "CHING", "HSU"))],
        # ZHOU / ZHU together in three groups (typos, misreadings) of the 83 that hold each
        # with more than one record: two common names, not learned
        *[(f"{g}{s}", g, "WEI", sn) for g in ("g4", "g5", "g6")
          for s, sn in (("p", "ZHOU"), ("q", "ZHU"))],
        *[(f"z{k}{s}", f"z{k}", "LEI", "ZHOU") for k in range(80) for s in "pq"],
        *[(f"u{k}{s}", f"u{k}", "NA", "ZHU") for k in range(80) for s in "pq"],
        # given and surname swapped in one record: not a spelling of either name
        *[(f"s{k}{s}", f"s{k}", gn, sn) for k in range(3)
          for s, gn, sn in (("p", "MIN", "LIU"), ("q", "LIU", "MIN"))],
        ("alone", "alone", "CHIANG", "QIANG"),  # a group of one identity teaches nothing
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE idt (identity_id VARCHAR, given_names_std VARCHAR, surname_std VARCHAR, "
                "given_vars VARCHAR, surname_vars VARCHAR)")
    con.executemany("INSERT INTO idt VALUES (?, ?, ?, NULL, NULL)", [(i, gn, sn) for i, _, gn, sn in rows])
    con.execute("CREATE TABLE grp AS SELECT * FROM (VALUES " + ", ".join(
        f"('{i}', '{g}')" for i, g, _, _ in rows) + ") t(node, label)")
    learned = learn_spelling_variants(con, "idt", "grp")
    got = dict(con.execute("SELECT identity_id, given_vars || ' ' || surname_vars FROM idt "
                           "WHERE identity_id IN ('g1p', 'g2q')").fetchall())
    assert got == {"g1p": "|CHING| |HSU|", "g2q": "|JING| |XU|"}
    # ZHOU / ZHU met in 3 of 83 groups each (< 5 %); the swapped MIN LIU taught nothing
    assert con.execute("SELECT count(*) FROM idt WHERE surname_std IN ('ZHOU', 'ZHU', 'LIU', 'MIN') "
                       "AND (surname_vars IS NOT NULL OR given_vars IS NOT NULL)").fetchall()[0][0] == 0
    assert con.execute("SELECT given_vars FROM idt WHERE identity_id = 'alone'").fetchall()[0][0] is None
    assert learned["given"] == 2


def test_romanisation_variants_of_both_names_with_a_partial_date_are_one_person(background):
    # JING XU's passport and her population-register record CHING HSU, born 1988 (month and
    # day not recorded), without a document: both names differ only by romanisation, which no
    # blocking rule on a name and the birth year tolerated and the romanisation key weighed
    # too little to link. Other travellers show JING / CHING and XU / HSU as one person's
    # spellings (their passport and permit under one passport number).
    helpers = [_chinese(20 + k, "JING XU", "CHING HSU", f"19{70 + k}-0{k + 2}-1{k}", "F",
                        f"E{k}1234567", "2021-01-10") for k in range(3)]
    jing = _chinese(25, "JING XU", "CHING HSU", "1988-04-17", "F", "E99887766", "2021-02-01",
                    address="12 KENT TERRACE", permit=False)
    for r in jing[1]["population_register"]:
        r.update(dob_month=None, dob_day=None)
    std, truth = _variant_world([*helpers, jing], background)
    res = link_frames(std, model_path=MODEL)
    st = person_status(res.person_links, truth)
    st = st.filter(pl.col("t").cast(pl.Int64) >= CASE_ID)
    assert st.height == 4 and st["exact"].all(), st
    # the quality report says how many names got learned spellings (JING and XU at least)
    from reglink.linkage.quality import quality_tables

    summary = dict(quality_tables(res)["quality_linkage_summary"].select("metric", "value").iter_rows())
    assert summary["given_names_with_learned_spellings"] >= 1
    assert summary["surnames_with_learned_spellings"] >= 1


def test_names_swapped_and_respelt_are_one_person(background):
    # the population register writes the surname first and in Cantonese: ZHIMING ZHOU's record
    # there reads given CHOW, surname ZHIMING; other travellers show ZHOU / CHOW as one
    # person's spellings (the romanisation key does not: CHOW folds to CV, ZHOU to C)
    helpers = [_chinese(50 + k, "LEI ZHOU", "LEI CHOW", f"19{80 + k}-0{k + 4}-2{k}", "M",
                        f"H{k}5550000", "2022-01-10") for k in range(3)]
    zhiming = _chinese(55, "ZHIMING ZHOU", "CHOW ZHIMING", "1993-02-20", "M", "H99990000",
                       "2021-06-01", address="7 AVA STREET", permit=False)
    std, truth = _variant_world([*helpers, zhiming], background)
    st = person_status(link_frames(std, model_path=MODEL).person_links, truth)
    st = st.filter(pl.col("t").cast(pl.Int64) >= CASE_ID)
    assert st.height == 4 and st["exact"].all(), st


def test_a_common_romanisation_key_weighs_less_than_a_rare_one(background):
    # WEI SUN / WEI CHEN and WEI KWOK / WEI GUO: each pair born the same day, surnames that only
    # share the romanisation key (CN; G). Among the delivery's Chinese surnames CN is common
    # (SUN, CHEN, SHEN, QIN, CHAN, ZHEN, ...), G rare, so the key level is weighed by how
    # often the key occurs (TF) and the CN pair scores less than the G pair
    def traveller(pid, surname, dob, given="WEI"):
        y, m, d = (int(x) for x in dob.split("-"))
        return CASE_ID + pid, [], [{
            "record_id": f"BC{CASE_ID + pid}", "given_names_std": given, "surname_std": surname,
            "full_name_std": " ".join(sorted([given, surname])), "dob_year": y, "dob_month": m,
            "dob_day": d, "sex": "M", "citizenship": "CHN", "country_of_birth": "CHN",
            "crossing_date": dt.date(2022, 3, 1), "direction": "ENTRY"}]

    crowd = [traveller(40 + i, s, f"19{50 + i}-0{1 + i % 9}-1{i % 10}", g)
             for i, (s, g) in enumerate([(s, g) for s in ("SUN", "CHEN", "SHEN", "QIN", "CHAN",
                                                          "ZHEN", "CEN", "SEN")
                                         for g in ("LI", "MING", "JUN")][:24])]
    pairs = [traveller(31, "SUN", "1977-05-04"), traveller(32, "CHEN", "1977-05-04"),
             traveller(33, "KWOK", "1981-10-22"), traveller(34, "GUO", "1981-10-22")]
    std, _ = _frames(pairs + crowd, background)
    res = link_frames(std, model_path=MODEL)

    def weight(a, b):
        ids = [f"border_crossings:BC{CASE_ID + a}", f"border_crossings:BC{CASE_ID + b}"]
        w = res.pairs.filter(pl.col("node_l").is_in(ids) & pl.col("node_r").is_in(ids))["match_weight"]
        assert w.len() == 1
        return float(w[0])

    assert weight(31, 32) < weight(33, 34) - 2


def _registered(pid: int, number: str, address: str, since: str, passport: str | None,
                travel_year: int, given: str = "AROHA"):
    """A resident (population register: own number, address, registration date) who travels
    once in `travel_year` on an NZL passport; surname and date of birth as every other's here."""
    pid += CASE_ID
    base = {"given_names_std": given, "surname_std": "TAMIHANA",
            "full_name_std": " ".join(sorted([*given.split(), "TAMIHANA"])),
            "dob_year": 1979, "dob_month": 2, "dob_day": 17, "sex": "F", "citizenship": "NZL"}
    pop = [{**base, "record_id": f"PR{pid}", "person_number": number, "country_of_birth": "NZL",
            "address_std": address, "postcode_std": "3110", "locality_std": "TAURANGA",
            "registration_date": dt.date.fromisoformat(since), "deregistration_date": None}]
    bc = [] if passport is None else [
        {**base, "record_id": f"BC{pid}-{k}", "document_number_std": passport,
         "document_country": "NZL", "crossing_date": dt.date(travel_year, 3 + 4 * k, 2),
         "direction": ("EXIT", "ENTRY")[k]} for k in range(2)]
    return pid, pop, bc


def test_namesakes_registered_at_two_addresses_at_once_are_two_people(background):
    # AROHA MERE TAMIHANA and AROHA TAMIHANA born the same day, each registered under their
    # own number at their own address in one town since 2015; each travelled once, on her own
    # passport, in different years (so the passports were never in use at once). The first
    # name, surname, date, postcode and town chain the four nodes into one cluster; the
    # register's two concurrent registrations at two addresses split it, and each register
    # record goes with the passport it matches best (the full given names)
    people = [_registered(51, "N8000051", "5 CAMERON ROAD", "2015-04-01", "LK5151515", 2021,
                          given="AROHA MERE"),
              _registered(52, "N8000052", "212 DEVONPORT ROAD", "2015-09-12", "LK5252525", 2023)]
    std, truth = _frames(people, background)
    res = link_frames(std, model_path=MODEL)
    st = person_status(res.person_links, truth).filter(pl.col("t").cast(pl.Int64) >= CASE_ID)
    assert st.height == 2 and st["exact"].all(), st
    assert res.splits.filter(pl.col("reason").str.starts_with("register: ")).height >= 1


def test_a_register_duplicate_at_one_address_stays_one_person(background):
    # one resident keyed twice: a second number, the same address, a month later
    pid, pop, bc = _registered(53, "N8000053", "5 CAMERON ROAD", "2015-04-01", "LK5353535", 2021)
    dup = {**pop[0], "record_id": f"PR{pid}b", "person_number": "N9000053",
           "registration_date": dt.date(2015, 5, 1)}
    st = _case_status([(pid, [pop[0], dup], bc)], background)
    assert st.height == 1 and st["exact"].all(), st


def test_names_alike_only_by_romanisation_keys_when_swapped_weigh_less(background):
    # JIANHUA WU and YONG CHEN, both born 1994-08-04 in China, each on their own passport: the
    # romanisation keys fold JIANHUA and CHEN to CN, WU and YONG to NG, so read swapped the two
    # names are "alike" by their keys alone -- at 1 M persons such pairs chained 700 people
    # into others. A swap alike in spelling (HAEUN CHOI / CHEY HA EUN) is far stronger evidence;
    # the key-only swap has a level of its own, weighed from the data
    def traveller(pid, given, surname, passport, year):
        return CASE_ID + pid, [], [{
            "record_id": f"BC{CASE_ID + pid}-{k}", "given_names_std": given, "surname_std": surname,
            "full_name_std": " ".join(sorted(f"{given} {surname}".split())), "dob_year": 1994,
            "dob_month": 8, "dob_day": 4, "sex": "M", "citizenship": "CHN",
            "country_of_birth": "CHN", "document_number_std": passport, "document_country": "CHN",
            "crossing_date": dt.date(year, 3 + 6 * k, 1), "direction": ("ENTRY", "EXIT")[k]}
            for k in range(2)]

    people = [traveller(61, "JIANHUA", "WU", "EA1234567", 2021),
              traveller(62, "YONG", "CHEN", "EB7654321", 2023),
              traveller(63, "HAEUN", "CHOI", "M12345678", 2021),
              traveller(64, "CHEY", "HA EUN", "M87654321", 2023)]
    std, _ = _frames(people, background)
    pairs = link_frames(std, model_path=MODEL).pairs

    def weight(a, b):
        ids = [f"border_crossings:BC{CASE_ID + a}-0", f"border_crossings:BC{CASE_ID + b}-0"]
        w = pairs.filter(pl.col("node_l").is_in(ids) & pl.col("node_r").is_in(ids))["match_weight"]
        assert w.len() == 1
        return float(w[0])

    assert weight(61, 62) < weight(63, 64) - 3


def test_two_countries_of_birth_in_one_cluster_contradict():
    from reglink.linkage.constraints import birth_country_contradictions

    nodes = pl.DataFrame({"unique_id": ["a", "b", "c", "d", "e"],
                          "country_of_birth": ["NZL", "AUS", None, "NZL", "FJI"]})
    clusters = pl.DataFrame({"node_id": ["a", "b", "c", "d", "e"],
                             "cluster_id": ["1", "1", "1", "1", "2"]})
    out = birth_country_contradictions(nodes, clusters)
    # a missing country contradicts nothing; d agrees with a; cluster 2 holds one country
    assert out.rows() == [("a", "b", "NZL vs AUS"), ("b", "d", "AUS vs NZL")]


def test_namesakes_born_the_same_day_in_two_countries_are_two_people(background):
    # two ANDREW CLARKs born the same day, one born in New Zealand and registered there, one
    # born in Australia, each travelling on a passport whose issuing state was not recorded
    # (the documents cannot be compared) in periods that do not overlap
    def clark(pid, doc, cob, citizenship, days, register=False):
        base = {"given_names_std": "ANDREW", "surname_std": "CLARK", "full_name_std": "ANDREW CLARK",
                "dob_year": 1972, "dob_month": 4, "dob_day": 9, "sex": "M",
                "citizenship": citizenship, "country_of_birth": cob}
        bc = [{**base, "record_id": f"BC{CASE_ID + pid}-{k}", "document_number_std": doc,
               "crossing_date": dt.date.fromisoformat(day), "direction": direction}
              for k, (day, direction) in enumerate(days)]
        pop = [{**base, "record_id": f"PR{CASE_ID + pid}", "person_number": f"N{pid}",
                "address_std": "3 TUI STREET", "postcode_std": "6011",
                "locality_std": "WELLINGTON"}] if register else []
        return CASE_ID + pid, pop, bc

    people = [clark(21, "LA1212121", "NZL", "NZL", [("2021-03-01", "EXIT"), ("2021-03-20", "ENTRY")],
                    register=True),
              clark(22, "PA3434343", "AUS", "AUS", [("2022-06-10", "ENTRY"), ("2022-06-25", "EXIT")])]
    std, truth = _frames(people, background)
    res = link_frames(std, model_path=MODEL)
    st = person_status(res.person_links, truth).filter(pl.col("t").cast(pl.Int64) >= CASE_ID)
    assert st.height == 2 and st["exact"].all(), st
    assert res.stats["cannot_link_birth_country"]
    assert res.splits.filter(pl.col("reason") == "country of birth: AUS vs NZL").height >= 1
    from reglink.linkage.quality import quality_tables

    summary = quality_tables(res)["quality_linkage_summary"]
    assert summary.filter(pl.col("metric") == "birth_country_contradicts")["value"].to_list() == [1.0]
