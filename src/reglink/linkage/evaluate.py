"""Linkage accuracy against a known truth: pairwise and person-level.

Pairwise precision and recall are dominated by the many easy pairs; the person-level figures say
how many people came out whole: a true person is *exactly recovered* when all of their records
carry one person_key and that key holds nobody else's records. A person is *split* when their
records carry more than one key; a key is *merged* when it holds records of more than one true
person (and every person with records under such a key counts as merged).

Some true persons cannot be told apart by any identifier the registers carry: another person
has the very same given names, surname, date of birth, sex and citizenship (`lookalikes`). Their
number grows faster than the population (every person added can collide with every other), so
the merged share is also given without them (`merged_share_without_lookalikes`): what linkage
merges where the identifiers do differ.

Between look-alikes and people the registers tell apart easily lie the *near look-alikes*
(`near_lookalikes`): of one sex, born the same day (or on its day/month swap, a date error the
linkage tolerates), with names the model must read as one person's spellings (each name equal,
the first given name equal, or as alike as the model's loosest spelling level: TAKUYA KATO /
TAKUYA SATO). Their number grows with the square of the population too, so the merged figures
are also given per kind of person (look-alike, near look-alike, the rest): a merged share that
grows with the population while each kind's own rate stays flat says the population got
harder, not the linkage worse.

Most of a population is neither, yet many share a name and a birth year with someone: the kinds
`namesake_same_year` (given names, surname, sex, citizenship and year of birth all shared) and
`first_name_same_year` (first given name, surname, sex and year shared, citizenship not: a
register that drops middle names, or knows the date by its year alone, leaves them as alike).
`person_kinds` puts every person in the first kind they belong to, hardest first.

Because the mix of kinds changes with the population (a synthetic world of a million persons
holds eight times the share of look-alikes of a world of 100,000), the merged share is also
given *standardised*, as demographers standardise a death rate by age: each kind's own merged
share weighted by that kind's share of a fixed standard population (`STANDARD_KIND_PERSONS`). Two
populations then compare as linkage of the same kinds of people would.

Pairs are counted, never enumerated: the pairs two groupings share are the sum over
(predicted person, true person) cells of n*(n-1)/2, so this stays cheap at 20 million records.
"""
from __future__ import annotations

import duckdb
import polars as pl


def _pairs(col: pl.Expr) -> pl.Expr:
    return (col * (col - 1) / 2).sum()


def _joined(links: pl.DataFrame, truth: pl.DataFrame, pred_col: str, true_col: str) -> pl.DataFrame:
    return links.select("source", pl.col("record_id").cast(pl.String), pl.col(pred_col).alias("p")).join(
        truth.select("source", pl.col("record_id").cast(pl.String), pl.col(true_col).cast(pl.String).alias("t")),
        on=["source", "record_id"], how="inner")


def person_status(links: pl.DataFrame, truth: pl.DataFrame, *, pred_col: str = "person_key",
                  true_col: str = "person_id") -> pl.DataFrame:
    """One row per true person: t (true id), records, keys (person_keys their records carry),
    split, merged (a key of theirs holds someone else too), exact (neither)."""
    j = _joined(links, truth, pred_col, true_col)
    return _status(j)


def _status(j: pl.DataFrame) -> pl.DataFrame:
    per_pred = j.group_by("p").agg(pl.col("t").n_unique().alias("persons"))
    merged_keys = per_pred.filter(pl.col("persons") > 1).select("p")
    merged_t = j.join(merged_keys, on="p", how="semi").select("t").unique().with_columns(
        pl.lit(True).alias("merged"))
    return (j.group_by("t").agg(pl.len().alias("records"), pl.col("p").n_unique().alias("keys"))
            .join(merged_t, on="t", how="left")
            .with_columns(pl.col("merged").fill_null(False), (pl.col("keys") > 1).alias("split"))
            .with_columns((~pl.col("merged") & ~pl.col("split")).alias("exact")))


LOOKALIKE_FIELDS = ("given_names", "surname", "date_of_birth", "sex", "citizenship")


def _sharing(persons: pl.DataFrame, keys: list[str | pl.Expr], true_col: str) -> pl.DataFrame:
    """The true persons (`true_col`, as t) of `persons` who share every one of `keys` with
    another person of `persons`."""
    return persons.filter(pl.len().over(keys) > 1).select(pl.col(true_col).cast(pl.String).alias("t"))


def lookalikes(persons: pl.DataFrame, true_col: str = "person_id") -> pl.DataFrame:
    """The true persons (`true_col`) who share all of LOOKALIKE_FIELDS with another person of
    `persons` (a synthetic world's truth/persons): no identifier tells them apart."""
    return _sharing(persons, list(LOOKALIKE_FIELDS), true_col)


NEAR_NAME_SIMILARITY = 0.80  # Jaro-Winkler of the model's loosest spelling level


def near_lookalikes(persons: pl.DataFrame, true_col: str = "person_id",
                    look: pl.DataFrame | None = None) -> pl.DataFrame:
    """The true persons (`true_col`) of `persons` who are not look-alikes but share sex with
    another person born the same day or on its day/month swap, whose given names and surname
    are each equal (the first given name counts), or Jaro-Winkler >= NEAR_NAME_SIMILARITY
    (case-insensitive). One equi-join per date relation, so it stays cheap at a million.
    `look`: the look-alikes of `persons` where the caller has them already."""
    look = lookalikes(persons, true_col) if look is None else look
    p = persons.select(
        pl.col(true_col).cast(pl.String).alias("t"), "sex",
        pl.col("given_names").str.to_uppercase().alias("g"),
        pl.col("given_names").str.to_uppercase().str.split(" ").list.first().alias("g1"),
        pl.col("surname").str.to_uppercase().alias("s"),
        pl.col("date_of_birth").alias("dob"),
        pl.when(pl.col("date_of_birth").dt.day() <= 12)
        .then(pl.date(pl.col("date_of_birth").dt.year(), pl.col("date_of_birth").dt.day(),
                      pl.col("date_of_birth").dt.month()))
        .alias("swapped"))
    sql = f"""
        WITH pairs AS (
            SELECT a.t ta, b.t tb, a.g ga, b.g gb, a.g1 g1a, b.g1 g1b, a.s sa, b.s sb
            FROM p a JOIN p b ON a.dob = b.dob AND a.sex = b.sex AND a.t < b.t
            UNION ALL
            SELECT a.t, b.t, a.g, b.g, a.g1, b.g1, a.s, b.s
            FROM p a JOIN p b ON a.swapped = b.dob AND a.sex = b.sex AND a.t <> b.t
                AND a.swapped <> a.dob),
        alike AS (
            SELECT ta, tb FROM pairs
            WHERE (ga = gb OR g1a = g1b OR jaro_winkler_similarity(ga, gb) >= {NEAR_NAME_SIMILARITY})
              AND (sa = sb OR jaro_winkler_similarity(sa, sb) >= {NEAR_NAME_SIMILARITY}))
        SELECT DISTINCT t FROM (SELECT ta t FROM alike UNION ALL SELECT tb FROM alike)"""
    with duckdb.connect() as con:
        con.register("p", p.to_arrow())
        near = con.sql(sql).pl()
    return near.join(look, on="t", how="anti")


_SURNAME = pl.col("surname").str.to_uppercase()
_BIRTH_YEAR = pl.col("date_of_birth").dt.year()


def namesakes_same_year(persons: pl.DataFrame, true_col: str = "person_id") -> pl.DataFrame:
    """The true persons (`true_col`) who share given names, surname, sex, citizenship and the
    year of birth with another person of `persons` (look-alikes included)."""
    return _sharing(persons, [pl.col("given_names").str.to_uppercase(), _SURNAME, "sex", "citizenship",
                              _BIRTH_YEAR], true_col)


def first_name_namesakes_same_year(persons: pl.DataFrame, true_col: str = "person_id") -> pl.DataFrame:
    """The true persons (`true_col`) who share the first given name, surname, sex and year of
    birth with another person of `persons`, whatever either's citizenship (the kinds above
    included)."""
    first = pl.col("given_names").str.to_uppercase().str.split(" ").list.first()
    return _sharing(persons, [first, _SURNAME, "sex", _BIRTH_YEAR], true_col)


# Kinds of person, hardest to tell apart first (`person_kinds`).
PERSON_KINDS = ("lookalike", "near_lookalike", "namesake_same_year", "first_name_same_year", "other")

# The standard population for the standardised shares: the persons of each kind among the
# 98,143 persons with records of `reglink synth --persons 100000 --seed 11`, the smaller of the
# two worlds the person-level accuracy of the linkage is compared on.
STANDARD_KIND_PERSONS = {"lookalike": 26, "near_lookalike": 145, "namesake_same_year": 8438,
                         "first_name_same_year": 13343, "other": 76191}


def person_kinds(persons: pl.DataFrame, true_col: str = "person_id") -> pl.DataFrame:
    """Every person of `persons` (t, kind): the first of PERSON_KINDS they belong to."""
    look = lookalikes(persons, true_col)
    tests = [("lookalike", look), ("near_lookalike", near_lookalikes(persons, true_col, look)),
             ("namesake_same_year", namesakes_same_year(persons, true_col)),
             ("first_name_same_year", first_name_namesakes_same_year(persons, true_col))]
    kind = pl.lit("other")
    for name, members in reversed(tests):
        kind = pl.when(pl.col("t").is_in(members["t"].implode())).then(pl.lit(name)).otherwise(kind)
    return persons.select(pl.col(true_col).cast(pl.String).alias("t")).with_columns(kind.alias("kind"))


def standardised_share(by_kind: dict[str, dict[str, object]], figure: str = "merged_share",
                       standard: dict[str, int] | None = None) -> float | None:
    """`figure` of each kind weighted by the kind's share of the standard population
    (`standard`: persons per kind, STANDARD_KIND_PERSONS by default); kinds this population
    does not hold are left out and the weights of the others scaled up to one. None where it
    holds none of the standard's kinds."""
    mix = STANDARD_KIND_PERSONS if standard is None else standard
    held = {k: w for k, w in mix.items() if w > 0 and by_kind.get(k, {}).get("persons")}
    total = sum(held.values())
    return sum(w * float(by_kind[k][figure]) for k, w in held.items()) / total if total else None


def person_metrics(links: pl.DataFrame, truth: pl.DataFrame, *, pred_col: str = "person_key",
                   true_col: str = "person_id", by: pl.DataFrame | None = None,
                   persons: pl.DataFrame | None = None) -> dict[str, object]:
    """Person-level accuracy: share of true persons exactly recovered, persons split, persons
    merged, keys merged. `by`: (true_col, category, ...) — the same figures per value of each
    category column too, as `by_<column>` (e.g. the synthetic world's `hard_case`: namesake,
    twin, junior; `citizenship`). `persons`: the truth's
    persons with LOOKALIKE_FIELDS — the merged figures without the look-alikes too."""
    j = _joined(links, truth, pred_col, true_col)
    return _person_figures(j, _status(j), true_col, by, persons)


def _person_figures(j: pl.DataFrame, st: pl.DataFrame, true_col: str,
                    by: pl.DataFrame | None, persons: pl.DataFrame | None = None) -> dict[str, object]:
    n = st.height
    per_pred = j.group_by("p").agg(pl.col("t").n_unique().alias("persons"))
    out: dict[str, object] = {
        "true_persons": n,
        "predicted_persons": per_pred.height,
        "persons_exact": int(st["exact"].sum()),
        "exact_share": float(st["exact"].sum()) / n if n else 1.0,
        "persons_split": int(st["split"].sum()),
        "persons_merged": int(st["merged"].sum()),
        "persons_wrong": n - int(st["exact"].sum()),
        "keys_merged": per_pred.filter(pl.col("persons") > 1).height,
        "split_share": float(st["split"].sum()) / n if n else 0.0,
        "merged_share": float(st["merged"].sum()) / n if n else 0.0,
    }
    if persons is not None:  # kinds of person among the persons with records
        seen = persons.filter(pl.col(true_col).cast(pl.String).is_in(st["t"].implode()))
        kinds = st.join(person_kinds(seen, true_col), on="t", how="left").with_columns(
            pl.col("kind").fill_null("other"))
        per_kind = (kinds.group_by("kind")
                    .agg(pl.len().alias("persons"), pl.col("merged").sum(), pl.col("split").sum(),
                         pl.col("exact").sum().alias("exact_persons"))
                    .with_columns((pl.col("persons") / n).alias("share"),
                                  (pl.col("merged") / pl.col("persons")).alias("merged_share"),
                                  (pl.col("split") / pl.col("persons")).alias("split_share"),
                                  (pl.col("exact_persons") / pl.col("persons")).alias("exact_share"))
                    .drop("exact_persons"))
        rows = {r.pop("kind"): r for r in per_kind.iter_rows(named=True)}
        by_kind = {k: rows[k] for k in PERSON_KINDS if k in rows}  # hardest first
        look, near = by_kind.get("lookalike", {}), by_kind.get("near_lookalike", {})
        n_look, n_near = look.get("persons", 0), near.get("persons", 0)
        merged_look, merged_near = look.get("merged", 0), near.get("merged", 0)
        merged_rest = int(st["merged"].sum()) - merged_look
        rest, others = n - n_look, n - n_look - n_near
        out.update({"persons_lookalike": n_look,
                    "persons_merged_lookalike": merged_look,
                    "merged_share_without_lookalikes": merged_rest / rest if rest else 0.0,
                    "persons_near_lookalike": n_near,
                    "persons_merged_near_lookalike": merged_near,
                    "merged_share_of_lookalikes": merged_look / n_look if n_look else 0.0,
                    "merged_share_of_near_lookalikes": merged_near / n_near if n_near else 0.0,
                    "merged_share_of_others": (merged_rest - merged_near) / others if others else 0.0,
                    "by_kind": by_kind,
                    "merged_share_standardised": standardised_share(by_kind),
                    "split_share_standardised": standardised_share(by_kind, "split_share")})
    for cat in (by.columns[1:] if by is not None else []):
        b = by.select(pl.col(true_col).cast(pl.String).alias("t"), pl.col(cat).alias("category"))
        per = (st.join(b, on="t", how="left")
               .group_by("category")
               .agg(pl.len().alias("persons"), pl.col("exact").sum().alias("exact"),
                    pl.col("split").sum().alias("split"), pl.col("merged").sum().alias("merged"))
               .sort("category"))
        out["by_" + cat] = {str(r["category"]): {
            "persons": r["persons"], "exact_share": r["exact"] / r["persons"] if r["persons"] else 1.0,
            "split": r["split"], "merged": r["merged"]} for r in per.iter_rows(named=True)}
    return out


def pairwise_metrics(links: pl.DataFrame, truth: pl.DataFrame, *, pred_col: str = "person_key",
                     true_col: str = "person_id", by: pl.DataFrame | None = None,
                     persons: pl.DataFrame | None = None) -> dict[str, object]:
    """links (source, record_id, pred_col) vs truth (source, record_id, true_col): pairwise
    precision/recall/F1 and the person-level figures of `person_metrics`."""
    j = _joined(links, truth, pred_col, true_col)
    pred = j.group_by("p").agg(pl.len().alias("n")).select(_pairs(pl.col("n"))).item()
    true = j.group_by("t").agg(pl.len().alias("n")).select(_pairs(pl.col("n"))).item()
    both = j.group_by("p", "t").agg(pl.len().alias("n")).select(_pairs(pl.col("n"))).item()
    precision = both / pred if pred else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "records": j.height, "precision": precision, "recall": recall, "f1": f1,
        "true_pairs": true, "predicted_pairs": pred, "correct_pairs": both,
        **_person_figures(j, _status(j), true_col, by, persons),
    }
