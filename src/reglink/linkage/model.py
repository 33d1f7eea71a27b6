"""The Splink model: comparisons, blocking rules, unsupervised training, save and reuse.

Why each comparison looks the way it does is in docs/linkage.md. Levels are built with
Splink's comparison-level creators (or DuckDB SQL marked with its dialect) so the very same
definition can be rendered for Spark (`settings_for(dialect="spark")`).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import polars as pl
import splink.comparison_level_library as cll
from splink.internals.dialects import SplinkDialect
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on

from reglink.linkage.prepare import register_of_sql

MODEL_VERSION = "v1"
# No name counts as rarer than 1 in 1,000 when weighing an exact agreement: in a small
# delivery a name seen once is not proof of identity (two LUCA SCHMIDTs with different birth
# dates stay two people).
TF_MIN_U = 0.001
D = "duckdb"  # the dialect our custom SQL is written in (Splink translates it with sqlglot)

log = logging.getLogger(__name__)


def _custom(sql: str, label: str) -> cll.CustomLevel:
    return cll.CustomLevel(sql, label_for_charts=label, base_dialect_str=D)


def _null(sql: str) -> cll.ComparisonLevelCreator:
    return _custom(sql, "missing on one side").configure(is_null_level=True)


SWAPPED_BY_KEY_ONLY = "given/surname swapped, alike only by romanisation key"


def swapped_alike(dialect: str = D, romanised: bool = True) -> str:
    """Given names and surname swapped between the two records, each side alike (equal
    without spaces, Jaro-Winkler >= 0.9, sounding alike, a spelling learned from the delivery
    and, with `romanised`, the same romanisation key): `HYUNWOO CHEY` / `CHOI HYUN WOO`.

    The romanisation key is coarse (JIANHUA and CHEN are both "CN", WU and YONG both "NG"):
    two different Chinese names are "swapped, each alike" by their keys alone far more often
    than by spelling, so the model weighs that case in a level of its own
    (`swapped_by_key_only`) instead of giving it the swap's full weight."""
    jw = SplinkDialect.from_string(dialect).jaro_winkler_function_name

    std = {"given": "given_names_std", "surname": "surname_std"}

    def alike(a: str, b: str) -> str:
        # ... or r's field holds a spelling this delivery shows for l's name (ZHOU / CHOW)
        key = f" OR {a}_rom_l = {b}_rom_r" if romanised else ""
        return (f"({jw}({a}_nospace_l, {b}_nospace_r) >= 0.9 OR {a}_phon_l = {b}_phon_r"
                f"{key} OR contains({a}_vars_l, '|' || {std[b]}_r || '|'))")

    return f"({alike('given', 'surname')} AND {alike('surname', 'given')})"


def comparisons(home_country: str = "NZL", dialect: str = D) -> list[cl.CustomComparison]:
    """The comparisons of the model, most specific level first."""
    home = home_country.upper().replace("'", "")
    swapped = swapped_alike(dialect)  # either kind: the given names' evidence counted once
    spelled = swapped_alike(dialect, romanised=False)
    given = cl.CustomComparison(
        output_column_name="given_names",
        comparison_description="given names: exact (TF), swapped order, first name, fuzzy, phonetic",
        comparison_levels=[
            # swapped given/surname: the evidence is counted once, in the surname comparison
            cll.CustomLevel(
                "given_names_std_l IS NULL OR given_names_std_r IS NULL OR "
                "(given_names_std_l <> given_names_std_r AND "
                f"(full_name_std_l = full_name_std_r OR {swapped}))",
                label_for_charts="missing, or swapped with the surname").configure(is_null_level=True),
            cll.ExactMatchLevel("given_names_std", term_frequency_adjustments=True).configure(
                tf_minimum_u_value=TF_MIN_U),
            cll.ExactMatchLevel("given_first").configure(
                label_for_charts="first given name equal", tf_adjustment_column="given_first",
                tf_minimum_u_value=TF_MIN_U),
            _custom("given_canon_l = given_canon_r", "known nickname (JIM / JAMES)"),
            _custom("contains(given_vars_l, '|' || given_names_std_r || '|')",
                    "spellings seen for one person in this delivery (CHING / JING)"),
            cll.JaroWinklerLevel("given_names_std", 0.92),
            _custom("given_phon_l = given_phon_r", "first given name sounds alike (metaphone)"),
            # weighed by how common the key is in this delivery (TF): a key shared by many
            # names (SUN / CHEN / SHEN, all "CN") says far less than a rare one (POPOW / POPOV)
            _custom("given_rom_l = given_rom_r", "romanisation variant (ZIHAN / TZU HAN)").configure(
                tf_adjustment_column="given_rom", tf_minimum_u_value=TF_MIN_U),
            cll.JaroWinklerLevel("given_names_std", 0.80),
            cll.ElseLevel(),
        ],
    )
    surname = cl.CustomComparison(
        output_column_name="surname",
        comparison_description="surname: exact (TF), swapped order, fuzzy, phonetic",
        comparison_levels=[
            cll.NullLevel("surname_std"),
            cll.ExactMatchLevel("surname_std", term_frequency_adjustments=True).configure(
                tf_minimum_u_value=TF_MIN_U),
            _custom("full_name_std_l = full_name_std_r", "same name tokens, given/surname swapped"),
            cll.CustomLevel(spelled, label_for_charts="given/surname swapped, each alike"),
            _custom("contains(surname_vars_l, '|' || surname_std_r || '|')",
                    "spellings seen for one person in this delivery (HSU / XU)"),
            cll.JaroWinklerLevel("surname_std", 0.92),
            _custom("surname_phon_l = surname_phon_r", "surname sounds alike (metaphone)"),
            _custom("surname_rom_l = surname_rom_r", "romanisation variant (ZHOU / CHOU)").configure(
                tf_adjustment_column="surname_rom", tf_minimum_u_value=TF_MIN_U),
            cll.JaroWinklerLevel("surname_std", 0.80),
            # last before else: weaker than any spelling agreement (see swapped_alike)
            cll.CustomLevel(swapped, label_for_charts=SWAPPED_BY_KEY_ONLY),
            cll.ElseLevel(),
        ],
    )
    y, m, d = "dob_year", "dob_month", "dob_day"
    dob = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="date of birth from its parts: partial dates, day/month swaps, typos",
        comparison_levels=[
            _null(f"{y}_l IS NULL OR {y}_r IS NULL"),
            _custom("dob_text_l = dob_text_r", "exact date"),
            _custom(f"{y}_l = {y}_r AND ({m}_l IS NULL OR {m}_r IS NULL OR {m}_l = {m}_r) "
                    f"AND ({d}_l IS NULL OR {d}_r IS NULL OR {d}_l = {d}_r)",
                    "agrees where known (partial date)"),
            _custom(f"{y}_l = {y}_r AND {m}_l = {d}_r AND {d}_l = {m}_r", "day and month swapped"),
            _custom(f"{y}_l = {y}_r AND ({m}_l = {m}_r OR {d}_l = {d}_r)",
                    "same year, day or month differs"),
            _custom(f"{m}_l = {m}_r AND {d}_l = {d}_r AND (floor({y}_l / 10) = floor({y}_r / 10) "
                    f"OR ({y}_l % 10 = {y}_r % 10 AND floor({y}_l / 100) = floor({y}_r / 100)))",
                    "same day and month, one digit of the year differs"),
            _custom(f"abs({y}_l - {y}_r) <= 1", "year within one"),
            cll.ElseLevel(),
        ],
    )
    sex = cl.CustomComparison(
        output_column_name="sex",
        comparison_levels=[cll.NullLevel("sex"), cll.ExactMatchLevel("sex"), cll.ElseLevel()],
    )
    citizenship = cl.CustomComparison(
        output_column_name="citizenship",
        comparison_description="citizenship; a change to the home country (naturalisation) "
                               "or to the country of birth is its own level",
        comparison_levels=[
            cll.NullLevel("citizenship"),
            cll.ExactMatchLevel("citizenship"),
            # a change to the home citizenship (naturalisation) carries no evidence either way:
            # weight 0, so it can never split a person
            _custom(f"citizenship_l = '{home}' OR citizenship_r = '{home}'",
                    "one side home citizen (naturalisation)").configure(is_null_level=True),
            _custom("citizenship_l = country_of_birth_r OR citizenship_r = country_of_birth_l",
                    "citizenship equals the other's country of birth"),
            cll.ElseLevel(),
        ],
    )
    birth_country = cl.CustomComparison(
        output_column_name="country_of_birth",
        comparison_levels=[
            cll.NullLevel("country_of_birth"),
            cll.ExactMatchLevel("country_of_birth"),
            cll.ElseLevel(),
        ],
    )
    document = cl.CustomComparison(
        output_column_name="document",
        comparison_description="document number: exact, one or two edits (typos); a different "
                               "number (renewal) is the else level, not a veto",
        comparison_levels=[
            cll.NullLevel("document_number_std"),
            cll.ExactMatchLevel("document_number_std"),
            cll.DamerauLevenshteinLevel("document_number_std", 1),
            cll.DamerauLevenshteinLevel("document_number_std", 2),
            cll.ElseLevel(),
        ],
    )
    # Address, postcode and locality as three comparisons: where a register has them they are
    # separate pieces of evidence (a typo in one leaves the others); a move changes all three,
    # which EM learns as a higher m for their "else" levels.
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_description="street address (free text): exact, near (typos)",
        comparison_levels=[
            cll.NullLevel("address_std"),
            cll.ExactMatchLevel("address_std"),
            cll.LevenshteinLevel("address_std", 1),
            cll.LevenshteinLevel("address_std", 3),
            cll.ElseLevel(),
        ],
    )
    postcode = cl.CustomComparison(
        output_column_name="postcode",
        comparison_levels=[cll.NullLevel("postcode_std"),
                           cll.ExactMatchLevel("postcode_std", term_frequency_adjustments=True),
                           cll.ElseLevel()],
    )
    locality = cl.CustomComparison(
        output_column_name="locality",
        comparison_levels=[cll.NullLevel("locality_std"),
                           cll.ExactMatchLevel("locality_std", term_frequency_adjustments=True),
                           cll.JaroWinklerLevel("locality_std", 0.9),
                           cll.ElseLevel()],
    )
    # The register's own number (the population register's person number, prefixed with the
    # register: prepare.OWN_NUMBER). One number in two nodes is one person whose other fields
    # changed (a move, a new surname). Two numbers of one register are two registrations (even
    # one keystroke apart: the register is keyed by them, consecutive numbers are common): a
    # register that keeps one number per person rarely holds a person twice, so such a pair is
    # far less often a match than a pair of records from registers that repeat a person
    # (crossings, permits). That is why "not both from one numbered register" is a level of
    # its own and not the null level: its u (the share of random pairs) is what makes the
    # two-numbers level strong evidence against a match, though not a veto (duplicates exist).
    same_reg = ("register_number_l IS NOT NULL AND register_number_r IS NOT NULL AND "
                f"{register_of_sql('register_number_l')} = {register_of_sql('register_number_r')}")
    register_number = cl.CustomComparison(
        output_column_name="register_number",
        comparison_description="the register's own number for the person: same, two numbers of "
                               "one register, or not both from one such register",
        comparison_levels=[
            cll.ExactMatchLevel("register_number").configure(label_for_charts="same register number"),
            _custom(same_reg, "two numbers of one register"),
            cll.ElseLevel().configure(label_for_charts="not both from one numbered register"),
        ],
    )
    return [given, surname, dob, sex, citizenship, birth_country, document, address, postcode,
            locality, register_number]


def _either(condition: str, join: str) -> list[str]:
    """`join` where `condition` holds on one side: two rules, one per side. Splink orders the
    two records of a pair by id, not by content, so a one-sided condition needs both; each
    is a plain equi-join with a filter on one side, which DuckDB and Spark push down into that
    side's scan (so the join only starts from the few records the condition selects)."""
    return [f"{condition.format(s='l')} AND {join}", f"{condition.format(s='r')} AND {join}"]


def blocking_rules() -> list[Any]:
    """Candidate pairs: each rule catches what the others miss (see docs/linkage.md).

    Every rule is an equi-join on a name and a part of the date of birth or a place (or on a
    document number or an address), so that no block grows with the whole population: a rule
    on one broad key (the full name, the date of birth, surname + birth year) makes blocks
    that grow with the population, and comparisons with its square (657 million at 1 million
    persons with such rules, 110 million with these). A broad key is refined by a further
    field in several ways that together only miss pairs where all of them disagree (full
    name + birth year / month / day).
    """
    i = "substr({}, 1, 1)".format  # an initial (portable SQL: DuckDB, Spark)
    return [
        # the same name (tokens in any order: full_name_std is order-free) with one part of the
        # date of birth right: typos in the other two, day/month swaps, partial dates
        block_on("full_name_std", "dob_year"),
        block_on("full_name_std", "dob_month"),
        block_on("full_name_std", "dob_day"),
        # first given name and surname (a middle name dropped or added), one DOB part right
        block_on("given_first", "surname_std", "dob_year"),
        block_on("given_first", "surname_std", "dob_day"),
        # the same date of birth and sex, names however different: romanisation variants of
        # both names, given/surname swapped, nicknames, a surname change; where a register
        # has no sex (FEBRL), the date alone
        block_on("dob_text", "sex"),
        *_either("{s}.sex IS NULL", "l.dob_text = r.dob_text"),
        block_on("document_number_std"),
        # surname + birth year + first initial: other given name spellings, day and month wrong
        block_on("surname_std", "dob_year", i("given_first")),
        # both names alike in sound, birth year right (spelling variants of both names)
        block_on("surname_phon", "given_phon", "dob_year"),
        # first given name + birth year and month: a new surname (marriage) and a wrong day
        block_on("given_first", "dob_year", "dob_month"),
        # surname (or its sound) + birthday + first initial: a wrong birth year
        block_on("surname_std", "dob_month", "dob_day", i("given_first")),
        block_on("surname_phon", "dob_month", "dob_day", i("given_first")),
        # day and month unknown on one side (a partial date, or 1 January, the usual
        # placeholder): surname + year, given names however spelt
        *_either("({s}.dob_text IS NULL OR ({s}.dob_month = 1 AND {s}.dob_day = 1))",
                 "l.surname_std = r.surname_std AND l.dob_year = r.dob_year"),
        # ... and the surname respelt too (POPOW / POPOV, KUZNETZOV / KUZNETSOV): its
        # romanisation key; the join starts from the few records with such a date
        *_either("({s}.dob_text IS NULL OR ({s}.dob_month = 1 AND {s}.dob_day = 1))",
                 "l.surname_rom = r.surname_rom AND l.dob_year = r.dob_year"),
        # no date of birth on one side: names only (the other rules all need a DOB part)
        *_either("{s}.dob_year IS NULL",
                 "l.surname_std = r.surname_std AND substr(l.given_first, 1, 1) = "
                 "substr(r.given_first, 1, 1)"),
        *_either("{s}.dob_text IS NULL",
                 "l.given_first = r.given_first AND substr(l.surname_std, 1, 1) = "
                 "substr(r.surname_std, 1, 1)"),
        *_either("{s}.dob_text IS NULL", "l.full_name_std = r.full_name_std"),
        # registers with addresses: the same place and a name or the birth year, for pairs
        # whose date of birth is wholly different or whose names are both mistyped
        block_on("postcode_std", "given_phon"),
        block_on("postcode_std", "surname_phon"),
        block_on("postcode_std", "dob_year"),
        # the same name in the same postcode area (first digit, a region): a wholly different
        # DOB together with a mistyped or changed postcode, locality and address
        block_on("full_name_std", i("postcode_std")),
        # locality is a coarse key (a city holds a large share of everyone): never with one
        # name alone
        block_on("locality_std", "surname_std", "given_first"),
        block_on("locality_std", "surname_std", "dob_year"),
        block_on("address_std"),
        # day and month swapped (US / European order) and a surname that sounds alike
        "l.dob_year = r.dob_year AND l.dob_month = r.dob_day AND l.dob_day = r.dob_month "
        "AND l.surname_phon = r.surname_phon",
    ]


# Broad keys: one name alone. A block on one grows with the population and its comparisons
# with the square of it, so none is among the rules above; but a small delivery (a small
# register, a test extract, a public benchmark) can afford them, and they find pairs whose every
# other key is corrupted at once (a name missing, the date of birth shifted in year and month).
# Each is used when it proposes at most BROAD_BLOCK_BUDGET comparisons per node of this delivery.
# The count per node grows with the population, so a broad rule drops out by itself as the
# delivery grows: at 1,000 records a first name proposes ~2 per node, at 100,000 persons hundreds.
BROAD_KEYS = ("given_first", "surname_std", "given_phon", "surname_phon")
BROAD_BLOCK_BUDGET = 5


def broad_block_counts_sql(table: str) -> str:
    """SQL: the comparisons a block on each broad key alone would propose among `table`'s rows
    (one row, one column per key: sum over the key's values of n (n - 1) / 2)."""
    parts = [f"(SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM {table} "
             f"WHERE {k} IS NOT NULL GROUP BY {k})) AS {k}" for k in BROAD_KEYS]
    return "SELECT " + ", ".join(parts)


def broad_keys(counts: dict[str, int], n_nodes: int, budget: float | None = None) -> list[str]:
    """The broad keys this delivery can afford to block on alone (`counts`: comparisons each
    would propose, from `broad_block_counts_sql`; `budget` per node, BROAD_BLOCK_BUDGET)."""
    per_node = BROAD_BLOCK_BUDGET if budget is None else budget
    return [k for k in BROAD_KEYS if counts.get(k, 0) <= per_node * n_nodes]


def with_rules(settings: dict[str, Any], keys: list[str], dialect: str = D) -> dict[str, Any]:
    """`settings` (a Splink settings dict) with a block on each of `keys` alone after its own
    rules (plain equi-joins: the same SQL in every dialect)."""
    if keys:
        settings["blocking_rules_to_generate_predictions"] = [
            *settings["blocking_rules_to_generate_predictions"],
            *({"blocking_rule": f"l.{k} = r.{k}", "sql_dialect": dialect} for k in keys)]
    return settings


def settings_creator(home_country: str = "NZL", link_type: str = "link_and_dedupe",
                     debug: bool = False, dialect: str = D) -> SettingsCreator:
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        comparisons=comparisons(home_country, dialect),
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_intermediate_calculation_columns=debug,
        retain_matching_columns=debug,
        additional_columns_to_retain=[],
    )


# Lowest m probability a level may take after training. EM drives m to ~0 for a level it
# never saw among matches in the training data (a sex mismatch, a citizenship change), which
# would turn one keying error into a veto of -50 bits. Register data have keying errors and
# dual citizens, so every level keeps a small floor; the "else" levels of the fields that
# legitimately change or are mistyped keep a larger one.
M_FLOOR = 0.0002
ELSE_M_FLOOR = {"sex": 0.005, "citizenship": 0.02, "country_of_birth": 0.01,
                "birth_date": 0.002, "document": 0.05}


def apply_m_floors(model: dict[str, Any]) -> dict[str, Any]:
    """Raise every m below its floor (untrained levels included) and renormalise."""
    for comp in model["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        for i, lv in enumerate(levels):
            floor = M_FLOOR
            if i == len(levels) - 1:  # the else level
                floor = ELSE_M_FLOOR.get(comp["output_column_name"], M_FLOOR)
            m = lv.get("m_probability")
            lv["m_probability"] = max(m if m is not None else 0.0, floor)
            if lv.get("u_probability") is None:
                lv["u_probability"] = M_FLOOR
        total = sum(lv["m_probability"] for lv in levels)
        for lv in levels:
            lv["m_probability"] = lv["m_probability"] / total
    return model


def train(linker: Linker, *, seed: int = 42, max_pairs: float = 2e6,
          em_max_pairs: float = 5e6, present: set[str] | None = None) -> dict[str, Any]:
    """Unsupervised training on distinct identities: u by random sampling, m by EM.

    Trained on identities *before* the deterministic grouping, so the EM session blocked on
    the document number sees real same-person pairs with their name and DOB variation. The
    second session (blocked on the date of birth) estimates the document and name levels.
    `present`: fields holding values in this data; sessions blocking on an empty field are
    skipped. Returns the model dict with m floors applied (the prior is set on the nodes).
    """
    def usable(*cols: str) -> bool:
        return present is None or all(c in present for c in cols)

    tr = linker.training
    tr.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    sessions = [c for c in (("document_number_std",), ("dob_text",), ("surname_std", "given_first"))
                if usable(*c)]
    for cols in sessions[:2]:
        try:
            tr.estimate_parameters_using_expectation_maximisation(
                block_on(*cols), max_pairs=em_max_pairs)
        except Exception as exc:  # a rule that finds no pairs in a small extract
            log.warning("EM session on %s skipped: %s", cols, exc)
    return apply_m_floors(linker.misc.save_model_to_json())


def estimate_prior(linker: Linker, present: set[str] | None = None, n_nodes: int = 2) -> None:
    """Probability that two random nodes match, from near-certain rules (recall 0.7).

    A tiny or unusual delivery can give 0 (no pair agrees on name and DOB) or 1; then the
    prior falls back to 1 / nodes (each node expected to match about one other)."""
    rules = [block_on(*c) for c in (("full_name_std", "dob_text"),)
             if present is None or all(x in present for x in c)]
    try:
        linker.training.estimate_probability_two_random_records_match(
            rules or [block_on("dob_text")], recall=0.7)
    except ValueError as exc:
        log.warning("prior not estimated: %s", exc)
    prior = linker._settings_obj._probability_two_random_records_match
    if not (prior is not None and 0 < prior < 1):
        linker._settings_obj._probability_two_random_records_match = min(0.5, 1 / max(n_nodes, 2))


# The prior's rule (same full name and date of birth) is assumed to catch 0.7 of the matches.
# Where records are heavily corrupted it catches far fewer (FEBRL3: 0.34, Splink's fake_1000:
# 0.09), the prior comes out several times too small and true pairs with two fields agreeing
# fall below the threshold. With m and u fixed, the prior is also the mean match probability
# over all node pairs (EM's update of it); pairs no rule proposed count as non-matches, so
# that estimate is low where blocking misses matches. Both are lower bounds: the larger is
# used, at most PRIOR_MAX_RAISE times the rule's.
PRIOR_MAX_RAISE = 16.0


def prior_from_pairs(weights: pl.Series, prior: float, n_nodes: int,
                     iterations: int = 30) -> float:
    """EM for the prior alone: `weights` are the scored pairs' match weights under `prior`;
    returns the prior at which it equals the mean match probability over all n_nodes pairs."""
    import math

    total = n_nodes * (n_nodes - 1) / 2
    if total <= 0 or weights.len() == 0 or not 0 < prior < 1:
        return prior
    base = weights.cast(pl.Float64) - math.log2(prior / (1 - prior))
    lam = prior
    for _ in range(iterations):
        p = 1.0 / (1.0 + (2.0 ** -(base + math.log2(lam / (1 - lam)))))
        new = min(float(p.sum()) / total, 0.5)
        if abs(new - lam) <= 1e-3 * lam:
            lam = new
            break
        lam = new
    return lam


# u by random sampling counts how often two random records agree; a random pair is one person
# with the prior's probability, so the sampled share is prior * m + (1 - prior) * u, not u. That
# is negligible in a country (prior ~1e-6) but not in a small delivery with several records per
# person: Splink's fake_1000 holds 4 records per person (prior 0.0026 over its scored pairs),
# and most random pairs agreeing on the given/surname swap or the whole date of birth are one
# person's. Where u was sampled on this delivery it is solved from that identity once the prior
# is known, and the pairs are scored again; not where no weight moves by U_MATCHES_MIN_BITS
# (large deliveries), so the cost stays with the small ones. A level's u is divided by at most
# 2 ** U_MATCHES_MAX_BITS: where the matches explain nearly all of the sampled share, what is
# left is below what the sample measures, and the comparisons are not independent (address,
# postcode and locality agree together) -- lifting several strong levels by 4 bits each merged 2
# FEBRL4 persons (precision 0.9992), by 2 bits none (docs/linkage.md).
U_MATCHES_MIN_BITS = 0.5
U_MATCHES_MAX_BITS = 2.0
# For now only on deliveries of fewer identities than this (the small deliveries of
# SMALL_DELIVERY_IDENTITIES): at 100,000 persons the exact document and address levels, whose
# sampled u is mostly one person's records there too, would be lifted by the full 2 bits, and
# that is not measured at that scale yet.
U_MATCHES_MAX_IDENTITIES = 20_000


# the node field each comparison needs: a comparison whose field this delivery lacks takes its
# null level on every pair, so its u is neither sampled nor used
COMPARISON_FIELDS = {"given_names": "given_names_std", "surname": "surname_std",
                     "birth_date": "dob_year", "sex": "sex", "citizenship": "citizenship",
                     "country_of_birth": "country_of_birth", "document": "document_number_std",
                     "address": "address_std", "postcode": "postcode_std",
                     "locality": "locality_std", "register_number": "register_number"}


def u_without_matches(model: dict[str, Any], prior: float, present: set[str] | None = None
                      ) -> tuple[dict[str, Any], float]:
    """(model with u = (sampled u - prior * m) / (1 - prior) on every level, the largest
    change of a weight in bits). A level's u is divided by at most 2 ** U_MATCHES_MAX_BITS
    (never taken to 0, see above). Comparisons whose u were not sampled are left alone: a
    field not in `present` (the node fields holding values), or u placeholders that do not sum
    to 1. Term-frequency adjusted levels are corrected too, though their weight comes from the
    frequency of the value (`link.tf_without_matches`)."""
    import copy
    import math

    out = copy.deepcopy(model)
    if not 0 < prior < 1:
        return out, 0.0
    floor = 2.0 ** -U_MATCHES_MAX_BITS
    worst = 0.0
    for comp in out["comparisons"]:
        field = COMPARISON_FIELDS.get(comp["output_column_name"])
        if present is not None and field is not None and field not in present:
            continue
        levels = [lv for lv in comp["comparison_levels"]
                  if not lv.get("is_null_level") and lv.get("m_probability") and lv.get("u_probability")]
        sampled = [lv["u_probability"] for lv in levels]
        if abs(sum(sampled) - 1) > 1e-3:  # u not sampled: a field this delivery lacks
            continue
        solved = [max((u - prior * lv["m_probability"]) / (1 - prior), u * floor)
                  for u, lv in zip(sampled, levels)]
        total = sum(solved)
        for lv, u0, u1 in zip(levels, sampled, solved):
            lv["u_probability"] = u1 / total
            worst = max(worst, abs(math.log2(u0 / lv["u_probability"])))
    return out, worst


def save_model(linker: Linker, path: Path) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return linker.misc.save_model_to_json(str(path), overwrite=True)


def settings_for(model_path: Path, dialect: str, home_country: str = "NZL") -> dict[str, Any]:
    """A saved (DuckDB-trained) model rendered for another backend, e.g. "spark".

    The comparison SQL is re-generated from the same Python definition in the target dialect
    and the trained m/u values and prior are copied level by level.
    """
    trained = json.loads(Path(model_path).read_text(encoding="utf-8"))
    target = settings_creator(home_country, dialect=dialect).get_settings(dialect).as_dict()
    for tc, sc in zip(target["comparisons"], trained["comparisons"]):
        for tl, sl in zip(tc["comparison_levels"], sc["comparison_levels"]):
            for k in ("m_probability", "u_probability"):
                if k in sl:
                    tl[k] = sl[k]
    target["probability_two_random_records_match"] = trained["probability_two_random_records_match"]
    return target


def load_settings(path: Path, link_type: str) -> dict[str, Any]:
    """A saved model, with the link type of this run (the same model serves one register
    pair or all four)."""
    settings = json.loads(Path(path).read_text(encoding="utf-8"))
    settings["link_type"] = link_type
    settings.pop("linker_uid", None)
    # blocking decides which pairs are scored, not how: it is not trained, so the rules of
    # this code version apply (a model saved with older, broader rules keeps its m and u)
    settings["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": r.get_blocking_rule(D).blocking_rule_sql if not isinstance(r, str) else r,
         "sql_dialect": D} for r in blocking_rules()]
    return settings


# --- fitting a saved model to the delivered registers ----------------------------------------
# A level's weight (log2 m/u) of the saved model and of one re-estimated on this delivery are
# compared over the levels that carry most matches (m >= FIT_MIN_M in the saved model: exact
# names and dates, the document and place levels — not the rare variant levels, whose m EM may
# rightly move far on registers without that variant): the largest difference in bits is the
# drift.
FIT_MIN_M = 0.05
FIT_BITS = 1.0      # u drift (m drift on a small delivery) above this: the saved model does not fit
# Below this many identities the u drift says little about fit: u is counted on few pairs, and
# a share of them are one person's records (a 2,000-person synthetic world that the saved model
# fits moves u by 2.5 bits), while EM from the saved m is cheap there. So a small delivery is
# judged by what EM from the saved m moves (0.19 bits on that world; 2.3 on Splink's fake_1000,
# 2.1 on FEBRL3, whose records are corrupted far beyond our registers'): the saved model is
# kept unless m moves by more than FIT_BITS. Larger deliveries are judged by u first (cheap)
# and run EM only when it does not fit.
SMALL_DELIVERY_IDENTITIES = 20_000
DRIFT_GUARD_BITS = 4.0  # an m re-estimated by EM further than this from the saved: keep the saved


def level_weights(model: dict[str, Any]) -> dict[tuple[str, str], tuple[float, float]]:
    """(comparison, level label) -> (m, u) of every non-null level."""
    out = {}
    for comp in model["comparisons"]:
        for lv in comp["comparison_levels"]:
            if lv.get("is_null_level"):
                continue
            label = lv.get("label_for_charts", lv["sql_condition"])
            out[(comp["output_column_name"], label)] = (lv.get("m_probability"), lv.get("u_probability"))
    return out


def unseen_levels(linker: Linker, present: set[str] | None = None) -> set[tuple[str, str]]:
    """(comparison, level label) of every non-null level whose m no EM session of `linker`
    estimated (the level never occurred among its pairs), in comparisons whose field the
    delivery has (`present`; a field it lacks takes the null level on every pair)."""
    out = set()
    for comp in linker._settings_obj.comparisons:
        field = COMPARISON_FIELDS.get(comp.output_column_name)
        if present is not None and field is not None and field not in present:
            continue
        for lv in comp.comparison_levels:
            if not lv.is_null_level and not lv._has_estimated_m_values:
                out.add((comp.output_column_name, lv.label_for_charts))
    return out


def weight_drift(saved: dict[str, Any], new: dict[str, Any], of: str = "weight",
                 skip: set[tuple[str, str]] = frozenset()) -> tuple[float, str]:
    """Largest change in bits over the levels that carry most matches, and where: of the
    weight |log2(m/u) new - saved| (of="weight"), or of m alone |log2(m new / m saved)|
    (of="m": what EM estimated, u being counted from the data). Levels in `skip` (EM did not
    see them) are not counted."""
    import math

    a, b = level_weights(saved), level_weights(new)
    worst, where = 0.0, ""
    for key, (m0, u0) in a.items():
        if key not in b or key in skip or not m0 or not u0 or m0 < FIT_MIN_M:
            continue
        m1, u1 = b[key]
        if not m1 or not u1:
            continue
        d = (abs(math.log2(m1 / m0)) if of == "m"
             else abs(math.log2(m1 / u1) - math.log2(m0 / u0)))
        if d > worst:
            worst, where = d, f"{key[0]}: {key[1]}"
    return worst, where


def fit_to_delivery(linker: Linker, saved: dict[str, Any], *, mode: str = "auto", seed: int = 42,
                    max_pairs: float = 2e6, em_max_pairs: float = 5e6,
                    present: set[str] | None = None, identities: int | None = None
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Re-estimate the saved model's parameters on the delivered identities, without labels.

    `linker` holds the delivery's identities with the saved model's settings. u is re-estimated
    by random sampling (cheap); with `mode` "auto" the saved model is kept when no weight of a
    level that carries matches moved by more than FIT_BITS (it fits the delivery). Otherwise m
    is re-estimated by Splink's EM starting from the saved m (mode "always": whatever the u
    drift). A small delivery (fewer than SMALL_DELIVERY_IDENTITIES identities) is judged by m
    instead: EM always runs (cheap there) and the saved model is kept when EM moves no m of a
    level carrying matches by more than FIT_BITS. Guard: an m that EM moves more than DRIFT_GUARD_BITS (x16) from the saved one, or
    an EM that fails, keeps the saved model (u is counted from the data and not guarded). Returns (model, decision) — decision says which
    model was used and why (the quality report shows it)."""
    decision: dict[str, Any] = {"model": "saved", "mode": mode, "u_drift_bits": None,
                                "m_drift_bits": None, "reason": ""}
    if mode == "never":
        decision["reason"] = "re-estimation switched off (linkage.refit: never)"
        return saved, decision
    small = mode == "auto" and identities is not None and identities < SMALL_DELIVERY_IDENTITIES
    tr = linker.training
    try:
        tr.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    except Exception as exc:  # noqa: BLE001 — a delivery too small to sample from
        decision["reason"] = f"u could not be re-estimated ({exc}); saved model kept"
        return saved, decision
    after_u = linker.misc.save_model_to_json()
    u_drift, u_where = weight_drift(saved, after_u)
    decision["u_drift_bits"] = round(u_drift, 3)
    if mode == "auto" and not small and u_drift <= FIT_BITS:
        decision["reason"] = (f"the saved model fits this delivery: re-estimated u moves no weight "
                              f"by more than {u_drift:.2f} bits (limit {FIT_BITS})")
        return saved, decision
    # the sessions of training: on the document and the date of birth, or on the names where
    # the delivery has no documents (each session estimates the comparisons it does not block on)
    sessions = [c for c in (("document_number_std",), ("dob_text",), ("surname_std", "given_first"))
                if present is None or all(x in present for x in c)]
    try:
        for cols in sessions[:2]:
            tr.estimate_parameters_using_expectation_maximisation(block_on(*cols), max_pairs=em_max_pairs)
    except Exception as exc:  # noqa: BLE001
        decision["reason"] = f"EM on the delivery failed ({exc}); saved model kept"
        return saved, decision
    # a level of a field the delivery has that EM never saw among its pairs (no partial dates,
    # no learned spellings in Splink's fake_1000) keeps the saved m in Splink, so the levels
    # this delivery does show share less than all of the m: as in training, it takes the floor
    unseen = unseen_levels(linker, present)
    new = linker.misc.save_model_to_json()
    for comp in new["comparisons"]:
        for lv in comp["comparison_levels"]:
            if (comp["output_column_name"], lv.get("label_for_charts", lv["sql_condition"])) in unseen:
                lv["m_probability"] = 0.0
    new = apply_m_floors(new)
    m_drift, m_where = weight_drift(saved, new, of="m", skip=unseen)
    decision["m_drift_bits"] = round(m_drift, 3)
    if m_drift > DRIFT_GUARD_BITS:
        decision["reason"] = (f"EM moved m by {m_drift:.1f} bits from the saved model at "
                              f"'{m_where}' (guard {DRIFT_GUARD_BITS}): saved model kept")
        return saved, decision
    if small and m_drift <= FIT_BITS:
        decision["reason"] = (f"the saved model fits this small delivery ({identities:,} identities "
                              f"< {SMALL_DELIVERY_IDENTITIES:,}, judged by m): EM from the saved m "
                              f"moves m by at most {m_drift:.2f} bits (limit {FIT_BITS})")
        return saved, decision
    decision["model"] = "re-estimated"
    if small:
        why = (f"saved model did not fit this small delivery ({identities:,} identities, judged by "
               f"m): EM from the saved m moved '{m_where}' by {m_drift:.2f} bits (limit {FIT_BITS}, "
               f"guard {DRIFT_GUARD_BITS})")
    else:
        why = ((f"saved model did not fit: re-estimated u moved '{u_where}' by "
                f"{u_drift:.2f} bits (limit {FIT_BITS}); " if mode == "auto" else
                "re-estimation on every delivery (linkage.refit: always); ")
               + f"EM from the saved m moved m by at most {m_drift:.2f} bits "
               f"(guard {DRIFT_GUARD_BITS})")
    decision["reason"] = why
    return new, decision
