"""Turn the standardised register tables into one frame of linkage fields.

Every register carries a different subset of the identifying fields (docs/reference.md#register-extracts):
the population register has addresses but no document numbers, the asylum register has no
document country, the border register repeats one traveller on every crossing. This module
lines them up on one set of columns (missing ones as nulls), adds the derived comparison
fields (first given name, phonetic codes, the DOB as text) and collapses records that carry
identical identifying fields inside one register into one *identity*, so the pairwise work
grows with distinct identities rather than with records (20 million crossings are a few
hundred thousand travellers).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jellyfish
import polars as pl
import yaml

from reglink.linkage.stats import share_lower_bound
from reglink.schemas import REGISTERS

NICKNAMES = Path(__file__).resolve().parents[3] / "config" / "linkage" / "nicknames.yaml"


@lru_cache(maxsize=1)
def nicknames() -> dict[str, str]:
    """Short form -> formal given name (config/linkage/nicknames.yaml)."""
    if not NICKNAMES.exists():
        return {}
    data = yaml.safe_load(NICKNAMES.read_text(encoding="utf-8")) or {}
    return {str(k).upper(): str(v).upper() for k, v in data.items()}

# The identifying fields linkage reads from every std_<source> table (absent -> null).
LINK_FIELDS: tuple[str, ...] = (
    "given_names_std", "surname_std", "full_name_std", "dob_year", "dob_month", "dob_day",
    "sex", "citizenship", "country_of_birth", "document_number_std", "document_country",
    "postcode_std", "address_std", "locality_std", "register_number",
)
_INT_FIELDS = {"dob_year", "dob_month", "dob_day"}
# The day a record was made, where a register has one per record (a border crossing's date),
# and a crossing's direction: not compared, but they date the use of a document (two passports
# of one state used in the same months cannot end in one person) and give each traveller a
# sequence of entries and exits that two people's merged crossings break (linkage/constraints.py).
SEEN_FIELDS: tuple[str, ...] = ("crossing_date", "direction")

# `register_number` is the register's own number for the person (schemas.Register.own_number:
# the population register's person_number), prefixed with the register's name so that numbers
# of two registers never compare as one register's two numbers.
OWN_NUMBER: dict[str, str] = {n: r.own_number for n, r in REGISTERS.items() if r.own_number}
# ... and the dates its registrations start and end (schemas.Register.registration_dates)
REGISTRATION_DATES: dict[str, tuple[str, str]] = {
    n: r.registration_dates for n, r in REGISTERS.items() if r.own_number and r.registration_dates}


def linkage_columns(source: str, columns: list[str]) -> list[str]:
    """The columns of a register's std table that linkage reads (record_id, LINK_FIELDS, its
    own number, SEEN_FIELDS), those of `columns` that exist."""
    wanted = ("record_id", *LINK_FIELDS, *SEEN_FIELDS, OWN_NUMBER.get(source, "record_id"),
              *REGISTRATION_DATES.get(source, ()))
    return list(dict.fromkeys(c for c in wanted if c in columns))


def register_of_sql(number: str) -> str:
    """SQL: the register a `register_number` value belongs to (its prefix, `_own_number_sql`)."""
    return f"regexp_extract({number}, '^[^:]*', 0)"


def _own_number_sql(source: str, cols: list[str]) -> str | None:
    own = OWN_NUMBER.get(source)
    if own is None or own not in cols:
        return None
    return f"'{source}:' || NULLIF(trim(CAST({own} AS VARCHAR)), '')"


# Fields that define one identity inside a register: the traveller (name, DOB, sex, document)
# plus the other person fields, so two identities never differ only in something we compare.
IDENTITY_FIELDS: tuple[str, ...] = LINK_FIELDS


def align(source: str, std: pl.DataFrame) -> pl.DataFrame:
    """One register's std frame -> (source, record_id, LINK_FIELDS), typed the same for all."""
    cols: list[pl.Expr] = [pl.lit(source).alias("source"), pl.col("record_id").cast(pl.String)]
    own = OWN_NUMBER.get(source)
    for f in LINK_FIELDS:
        dtype = pl.Int32 if f in _INT_FIELDS else pl.String
        if f == "register_number" and own in std.columns:
            num = pl.col(own).cast(pl.String).str.strip_chars()
            cols.append(pl.when(num == "").then(None)
                        .otherwise(pl.lit(f"{source}:") + num).alias(f))
        elif f in std.columns:
            e = pl.col(f).cast(dtype, strict=False)
            if dtype == pl.String:
                e = pl.when(e.str.strip_chars() == "").then(None).otherwise(e.str.strip_chars())
            cols.append(e.alias(f))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(f))
    out = std.select(cols)
    # A month or day of 0 means "unknown" in partial dates (YYYY-00-00).
    for f in ("dob_month", "dob_day"):
        out = out.with_columns(pl.when(pl.col(f) == 0).then(None).otherwise(pl.col(f)).alias(f))
    return out


def _phonetic(values: pl.Series) -> pl.Series:
    """Metaphone of each distinct value (computed once per distinct name, not per row)."""
    return values.map_elements(
        lambda s: (jellyfish.metaphone(s.replace(" ", "")) or None) if s else None,
        return_dtype=pl.String,
    )


SURNAME_VARIANTS = Path(__file__).resolve().parents[3] / "config" / "linkage" / "surname_variants.yaml"


@lru_cache(maxsize=1)
def surname_variants() -> dict[str, str]:
    """Surname form -> its group's romanisation key (config/linkage/surname_variants.yaml): the
    key of the group's first form, or that form itself where it has no consonant key (HU)."""
    if not SURNAME_VARIANTS.exists():
        return {}
    groups = yaml.safe_load(SURNAME_VARIANTS.read_text(encoding="utf-8")) or []
    heads = [str(g[0]).upper() for g in groups if g]
    keys = pl.select(romanisation_key(pl.Series(heads, dtype=pl.String))).to_series().to_list()
    out: dict[str, str] = {}
    for g, head, key in zip([g for g in groups if g], heads, keys):
        for form in g:
            out.setdefault(str(form).upper(), key or f"={head}")
    return out


def surname_key(name: pl.Expr) -> pl.Expr:
    """The romanisation key of a surname, through the known variant groups first."""
    var = surname_variants()
    if not var:
        return romanisation_key(name)
    return pl.coalesce(name.replace_strict(list(var), list(var.values()), default=None),
                       romanisation_key(name))


def romanisation_key(name: pl.Expr) -> pl.Expr:
    """A coarse consonant key that survives the usual romanisation variants of Chinese,
    Korean and similar names (Pinyin / Wade-Giles / Cantonese: ZHOU-CHOU-CHOW, QIANG-CHIANG,
    XU-TSUI-HSU, ZIHAN-TZU HAN, JUN-CHUN, HUANG-NG, LIN-LIM): sibilants and affricates fold to
    one letter, aspirated/unaspirated pairs (K/G, P/B, T/D) fold, vowels, H, W, Y drop, a final
    M reads as N, repeats collapse. Far too coarse to link on alone; it is one level among
    the name comparisons, weighed by the model like any other."""
    k = (name.str.replace_all(" ", "")
         # W between vowels or final after a vowel is a V (German / Polish spellings of Slavic
         # names: IWANOW / IVANOV, SAIZEW / ZAITSEV, KOWALSKI)
         .str.replace_all("([AEIOU])W([AEIOU]|$)", "${1}V${2}")
         .str.replace_all("TS|TZ|ZH|CH|SH|HS|Q|X|J|Z|S|C", "C")
         .str.replace_all("K", "G").str.replace_all("P", "B").str.replace_all("T", "D")
         .str.replace_all("[AEIOUHWY]", "")
         .str.replace_all("M$", "N"))
    for letter in "BCDFGLMNRV":
        k = k.str.replace_all(f"{letter}+", letter)
    return pl.when(k == "").then(None).otherwise(k)


def add_derived(records: pl.DataFrame) -> pl.DataFrame:
    """First given name, phonetic codes of surname and first given name, DOB text."""
    out = records.with_columns(
        pl.col("given_names_std").str.split(" ").list.first().alias("given_first"),
        pl.col("given_names_std").str.replace_all(" ", "").alias("given_nospace"),
        pl.col("surname_std").str.replace_all(" ", "").alias("surname_nospace"),
        romanisation_key(pl.col("given_names_std")).alias("given_rom"),
        surname_key(pl.col("surname_std")).alias("surname_rom"),
        pl.when(pl.col("dob_year").is_not_null() & pl.col("dob_month").is_not_null()
                & pl.col("dob_day").is_not_null())
        .then(pl.format("{}-{}-{}", pl.col("dob_year"),
                        pl.col("dob_month").cast(pl.String).str.zfill(2),
                        pl.col("dob_day").cast(pl.String).str.zfill(2)))
        .otherwise(None).alias("dob_text"),
        # spellings of the name this delivery shows for one person (`learn_spelling_variants`,
        # filled once the deterministic groups are known; none until then)
        pl.lit(None, dtype=pl.String).alias("given_vars"),
        pl.lit(None, dtype=pl.String).alias("surname_vars"),
    )
    nick = nicknames()
    out = out.with_columns(
        pl.col("given_first").replace(list(nick), list(nick.values())).alias("given_canon"))
    names = pl.concat([out["surname_std"], out["given_first"]]).drop_nulls().unique()
    codes = pl.DataFrame({"name": names, "code": _phonetic(names)})
    out = (
        out.join(codes.rename({"name": "surname_std", "code": "surname_phon"}),
                 on="surname_std", how="left")
        .join(codes.rename({"name": "given_first", "code": "given_phon"}),
              on="given_first", how="left")
    )
    return out


def collapse_identities(records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Collapse records with identical identifying fields within one register.

    Returns (identities, record_identity): one row per identity with `identity_id` (the
    register name and the smallest record_id holding it) and `n_records`; and the map from
    every (source, record_id) to its identity_id.
    """
    keyed = records.with_columns(
        pl.struct(["source", *IDENTITY_FIELDS]).hash(seed=7).alias("_ik")
    )
    firsts = (
        keyed.sort(["source", "record_id"])
        .group_by("_ik", maintain_order=True)
        .agg(pl.all().first(), pl.len().alias("n_records"))
        .with_columns(pl.format("{}:{}", pl.col("source"), pl.col("record_id")).alias("identity_id"))
    )
    record_identity = keyed.select("source", "record_id", "_ik").join(
        firsts.select("_ik", "identity_id"), on="_ik", how="left"
    ).drop("_ik")
    identities = firsts.drop("_ik", "record_id")
    return identities, record_identity


# --- the same two steps set-based in DuckDB, for deliveries too large for memory -----------
# `link_frames` / `link_persons` use these: the record-level rows (20 million crossings) stay
# in DuckDB, which spills to disk past its memory limit; only distinct identities reach polars.

def aligned_records_sql(sources: dict[str, tuple[str, list[str]]]) -> str:
    """Portable SQL: one SELECT per register -> (source, record_id, LINK_FIELDS), UNION ALL.

    `sources`: register -> (relation name, its columns). Absent fields are typed NULLs; blank
    text is NULL; a month or day of 0 ("unknown" in partial dates) is NULL — as `align`."""
    parts = []
    for source, (rel, cols) in sorted(sources.items()):
        sel = [f"'{source}' AS source", "CAST(record_id AS VARCHAR) AS record_id"]
        for f in LINK_FIELDS:
            if f == "register_number" and (own := _own_number_sql(source, cols)) is not None:
                sel.append(f"{own} AS {f}")
            elif f not in cols:
                sel.append(f"CAST(NULL AS {'INTEGER' if f in _INT_FIELDS else 'VARCHAR'}) AS {f}")
            elif f in ("dob_month", "dob_day"):
                sel.append(f"NULLIF(TRY_CAST({f} AS INTEGER), 0) AS {f}")
            elif f in _INT_FIELDS:
                sel.append(f"TRY_CAST({f} AS INTEGER) AS {f}")
            else:
                sel.append(f"NULLIF(trim(CAST({f} AS VARCHAR)), '') AS {f}")
        sel.append("TRY_CAST(crossing_date AS DATE) AS seen_on" if "crossing_date" in cols
                   else "CAST(NULL AS DATE) AS seen_on")
        # ENTRY / EXIT of a crossing: impossible travel sequences are evidence against a match
        sel.append("upper(trim(CAST(direction AS VARCHAR))) AS direction" if "direction" in cols
                   else "CAST(NULL AS VARCHAR) AS direction")
        # the span of a registration under the register's own number (open end: still
        # registered): two numbers registered at once at two addresses are two people
        start, end = REGISTRATION_DATES.get(source, (None, None))
        if start in cols and end in cols and _own_number_sql(source, cols) is not None:
            sel.append(f"TRY_CAST({start} AS DATE) AS registered_from")
            sel.append(f"coalesce(TRY_CAST({end} AS DATE), DATE '9999-12-31') AS registered_to")
        else:
            sel.append("CAST(NULL AS DATE) AS registered_from")
            sel.append("CAST(NULL AS DATE) AS registered_to")
        parts.append(f"SELECT {', '.join(sel)} FROM {rel}")
    return "\nUNION ALL\n".join(parts)


# An unknown date of birth is often written as 1 January of the year (a practice of asylum and
# other registers that record an age, not a date). A register whose complete dates fall on
# 1 January far more often than the calendar's 1 in 365 -- at least this share, by the lower
# bound of its Wilson interval -- has its 1 January dates read as the year alone: a partial
# date, which agrees with any date of that year and contradicts none.
JAN1_PLACEHOLDER_MIN_SHARE = 0.02


def jan1_counts_sql(records: str) -> str:
    """SQL: per register, complete dates of birth and those on 1 January."""
    return f"""SELECT source,
        count(*) FILTER (WHERE dob_year IS NOT NULL AND dob_month IS NOT NULL AND dob_day IS NOT NULL),
        count(*) FILTER (WHERE dob_year IS NOT NULL AND dob_month = 1 AND dob_day = 1)
        FROM {records} GROUP BY source ORDER BY source"""


def jan1_placeholder_sources(counts: list[tuple[str, int, int]],
                             min_share: float = JAN1_PLACEHOLDER_MIN_SHARE) -> list[str]:
    """The registers (source, complete dates, on 1 January) whose 1 January is a placeholder."""
    return [s for s, n, k in counts if share_lower_bound(k, n) >= min_share]


def jan1_as_year_sql(records: str, sources: list[str]) -> str:
    """SQL: `records` with the 1 January dates of `sources` cut to their year."""
    if not sources:
        return f"SELECT * FROM {records}"
    jan1 = (f"(source IN ({', '.join(repr(s) for s in sources)}) "
            "AND dob_month = 1 AND dob_day = 1)")
    return (f"SELECT * REPLACE (CASE WHEN {jan1} THEN NULL ELSE dob_month END AS dob_month, "
            f"CASE WHEN {jan1} THEN NULL ELSE dob_day END AS dob_day) FROM {records}")


def _collapse_tables(con, sources: dict[str, tuple[str, list[str]]]) -> list[str]:
    """Temp tables `linkage_identities` (_ik, source, IDENTITY_FIELDS, n_records, identity_id,
    first_seen, last_seen, registered_from, registered_to) and `record_identity` (source, record_id, identity_id).
    Returns the registers whose 1 January dates were read as the year alone."""
    fields = ", ".join(IDENTITY_FIELDS)

    def ik(t: str = "") -> str:
        return f"hash({', '.join(t + c for c in ('source', *IDENTITY_FIELDS))})"

    con.execute(f"CREATE OR REPLACE TEMP VIEW linkage_records_as_read AS {aligned_records_sql(sources)}")
    jan1 = jan1_placeholder_sources(con.execute(jan1_counts_sql("linkage_records_as_read")).fetchall())
    con.execute("CREATE OR REPLACE TEMP VIEW linkage_records AS "
                + jan1_as_year_sql("linkage_records_as_read", jan1))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE linkage_identities AS
        SELECT {ik()} AS _ik, source, {fields}, count(*) AS n_records,
               source || ':' || min(record_id) AS identity_id,
               min(seen_on) AS first_seen, max(seen_on) AS last_seen,
               min(registered_from) AS registered_from, max(registered_to) AS registered_to
        FROM linkage_records GROUP BY source, {fields}""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE record_identity AS
        SELECT r.source, r.record_id, i.identity_id
        FROM linkage_records r JOIN linkage_identities i ON {ik('r.')} = i._ik""")
    return jan1


def collapse_identities_sql(con, sources: dict[str, tuple[str, list[str]]]) -> pl.DataFrame:
    """Collapse identical records per register in DuckDB: the result of `collapse_identities`,
    except that a register's 1 January placeholders are read as the year alone
    (`jan1_placeholder_sources`), which only the whole delivery can tell.

    Leaves table `record_identity` (source, record_id, identity_id) — one row per input
    record — in `con`, and returns the identities (source, IDENTITY_FIELDS, n_records,
    identity_id; identity_id = register:smallest record_id) as a polars frame.
    """
    _collapse_tables(con, sources)
    ident = con.sql(f"SELECT source, {', '.join(IDENTITY_FIELDS)}, n_records, identity_id, "
                    "first_seen, last_seen, registered_from, registered_to "
                    "FROM linkage_identities ORDER BY identity_id").pl()
    con.execute("DROP TABLE linkage_identities")
    return ident.with_columns(pl.col("n_records").cast(pl.UInt32))


# --- identities kept in DuckDB (the linkage stage at national scale) -------------------------
# At two million persons there are about seven million distinct identities; with the derived
# comparison fields they are gigabytes as polars frames, held while the model trains and
# scores. Kept as a DuckDB table they spill past the stage's memory limit instead, and Python
# holds one batch at a time while the derived fields are computed.

IDENTITY_TABLE = "lk_identities"


def identities_table(con, sources: dict[str, tuple[str, list[str]]],
                     batch_rows: int = 250_000) -> tuple[int, list[str]]:
    """Collapse identical records per register and add the derived comparison fields, in
    DuckDB: leaves temp table `record_identity` (source, record_id, identity_id) and table
    `lk_identities` (what `add_derived(collapse_identities_sql(...))` returns, one row per
    identity). Returns the number of identities.

    The derived fields are computed by `add_derived` itself, on batches of `batch_rows`
    identities, so the result is the polars path's row for row while Python never holds more
    than one batch. `lk_identities` is a main-schema table (not TEMP) so a cursor of the same
    database (the model training) sees it. Also returns the registers whose 1 January dates
    were read as the year alone (JAN1_PLACEHOLDER_MIN_SHARE)."""
    jan1 = _collapse_tables(con, sources)
    fields = ", ".join(IDENTITY_FIELDS)
    # batches by a row number in identity order (a filter per batch, no open cursor while
    # the batch's rows are written back)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE linkage_identities_n AS
        SELECT source, {fields}, CAST(n_records AS UINTEGER) AS n_records, identity_id,
               first_seen, last_seen, registered_from, registered_to,
               row_number() OVER (ORDER BY identity_id) - 1 AS _rn
        FROM linkage_identities""")
    con.execute("DROP TABLE linkage_identities")
    n = con.execute("SELECT count(*) FROM linkage_identities_n").fetchall()[0][0]
    con.execute(f"DROP TABLE IF EXISTS {IDENTITY_TABLE}")
    for start in range(0, max(n, 1), batch_rows):
        batch = con.sql(f"SELECT * EXCLUDE (_rn) FROM linkage_identities_n WHERE _rn >= {start} "
                        f"AND _rn < {start + batch_rows} ORDER BY _rn").pl()
        con.register("_identity_batch", add_derived(batch).to_arrow())
        if start == 0:
            con.execute(f"CREATE TABLE {IDENTITY_TABLE} AS SELECT * FROM _identity_batch")
        else:
            con.execute(f"INSERT INTO {IDENTITY_TABLE} SELECT * FROM _identity_batch")
        con.unregister("_identity_batch")
        del batch
    con.execute("DROP TABLE linkage_identities_n")
    return n, jan1


# --- spellings the delivery itself shows for one person --------------------------------------
# A deterministic group holds one person's records under one document number; where its
# registers spell the name differently (the passport's JING XU, the permit's CHING HSU), the
# two spellings are variants of one name. Seen in several persons, a pair of spellings is a
# romanisation (or a habitual respelling) of this population, far more precise than the coarse
# romanisation key, which also folds two different names together (ZHU / ZHOU, both "C").

# a pair of spellings counts when seen in at least this many groups ...
VARIANT_MIN_GROUPS = 3
# ... and in at least this share of the groups of the rarer spelling that hold more than one
# identity: two common names (ZHOU / ZHU) meet in a few groups by a typo or a swap, a true
# variant (CHOU / ZHOU) accompanies its name in a good share of the groups it appears in
VARIANT_MIN_SHARE = 0.05


def learn_spelling_variants(con, identities: str = IDENTITY_TABLE, groups: str = "lk_groups",
                            min_groups: int = VARIANT_MIN_GROUPS,
                            min_share: float = VARIANT_MIN_SHARE) -> dict[str, int]:
    """Fill `given_vars` / `surname_vars` of `identities` (DuckDB table: identity_id and the
    name fields; `groups`: node = identity_id, label = deterministic group): for each name,
    `|A|B|` — the other spellings seen for it inside deterministic groups (both directions),
    or NULL. Given names and surnames swapped between two records are not variants of each
    other and are not counted. Returns per field the number of names given spellings."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _grp_names AS
        WITH m AS (SELECT g.label AS grp, i.given_names_std AS gn, i.surname_std AS sn
                   FROM {identities} i JOIN {groups} g ON g.node = i.identity_id)
        SELECT DISTINCT * FROM m WHERE grp IN (SELECT grp FROM m GROUP BY grp HAVING count(*) > 1)""")
    learned = {}
    for field, col, name_col in (("given", "gn", "given_names_std"), ("surname", "sn", "surname_std")):
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _variants AS
            WITH p AS (
                SELECT a.{col} AS a, b.{col} AS b, count(DISTINCT a.grp) AS n
                FROM _grp_names a JOIN _grp_names b ON a.grp = b.grp AND a.{col} < b.{col}
                     AND a.sn IS DISTINCT FROM b.gn AND a.gn IS DISTINCT FROM b.sn
                GROUP BY ALL),
            f AS (SELECT {col} AS v, count(DISTINCT grp) AS n FROM _grp_names
                  WHERE {col} IS NOT NULL GROUP BY ALL),
            kept AS (SELECT a, b FROM p JOIN f fa ON fa.v = p.a JOIN f fb ON fb.v = p.b
                     WHERE p.n >= {int(min_groups)} AND p.n >= {float(min_share)} * least(fa.n, fb.n))
            SELECT name, '|' || string_agg(other, '|' ORDER BY other) || '|' AS vars FROM (
                SELECT a AS name, b AS other FROM kept UNION ALL SELECT b, a FROM kept)
            GROUP BY name""")
        learned[field] = con.execute("SELECT count(*) FROM _variants").fetchall()[0][0]
        con.execute(f"""UPDATE {identities} SET {field}_vars = v.vars FROM _variants v
                        WHERE v.name = {identities}.{name_col}""")
    con.execute("DROP TABLE _grp_names; DROP TABLE _variants")
    return learned
