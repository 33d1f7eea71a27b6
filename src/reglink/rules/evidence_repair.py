"""Place imputed crossings with the evidence the other registers hold (docs/methods.md section 7).

`rules.repair` sees crossings only: it imputes a lost crossing by splitting the gap in the
person's own share of days in and out, and it cannot see a lost *last* exit at all (a visitor
whose departure was not recorded looks present until the data end and becomes an immigrant).
The tables stage has the linked permits, population register and asylum register, which say
whether the person had a reason to stay. With them:

| case | evidence | imputation (`crossing_repairs.reason` says which) |
|---|---|---|
| last crossing an ENTRY (`MISSING_LAST_EXIT`) | visitor entry (below) over [entry, U] | EXIT at entry + typical visitor stay (own median, else everyone's), capped at `visitor_max_stay_days`; none if that falls after U |
| | a foreigner's permit held at the entry expired before U -- with its renewals (a run of permits each starting by the day after the latest end so far) --, no permit after that run, no registration starting after it ended (one made while it ran is the arrival's); before a deregistration (below), unless this date is after it | EXIT the typical lead of that kind of permit before the run's last day (pooled `expiry_lead_by_kind`: median days from holders' recorded last EXITs to the end of the latest permit started before them, within a year either side; a kind with too few cases: everyone's `expiry_lead`) |
| | deregistered as an emigrant after the entry | EXIT the register's typical reporting delay (pooled `reporting_delay`) before the deregistration |
| last crossing an EXIT (`MISSING_LAST_ENTRY`) | a registration starting after the exit (at least the typical delay after it) | ENTRY the typical arrival-to-registration delay before it |
| | resident's trip (below) | ENTRY at exit + typical trip of a resident, capped at `resident_max_trip_days` |
| first crossing an EXIT after the data start (`MISSING_FIRST_ENTRY`) | a newcomer: no permit held and not registered at the data start; an asylum application, a registration (non-citizen) or a permit starts before the exit | ENTRY the typical arrival-to-application delay before the application, the typical arrival-to-registration delay before the registration, or the typical permit-to-arrival lag after the permit's first day (pooled `asylum_lag`, `registration_lag`, `permit_lag`) |
| first crossing an ENTRY after the data start (`MISSING_FIRST_EXIT`) | registered at birth in the country after the data start, and the entry declares a residence abroad or the person was deregistered as an emigrant before it | EXIT the register's reporting delay before the deregistration, else halfway from the birth month to the entry |
| two ENTRYs a, c (`MISSING_EXIT`) | visitor entry at a over [a, c] (a permit counts only over a visitor's possible stay, [a, a + `visitor_max_stay_days`]) | EXIT at a + typical visitor stay (capped as above and at c) |
| | the permit held at a, with its renewals, ends in the gap (with a deregistration in the gap, unless this date is after it) | EXIT the person's own typical lead before its last day (median days from their recorded EXITs to the end of the permit held at each), else the lead of its kind (above) |
| | deregistered as an emigrant in the gap | EXIT the typical reporting delay before the deregistration |
| | stayer at a, and c a visit's ENTRY declaring a residence abroad (gap over two typical trips) | EXIT at a + the person's typical time at home between trips, at most the middle of the gap: the move abroad, dated when the next trip would have been |
| | stayer at a (below) | EXIT at c − typical trip abroad of a resident (below; capped at c − a) |
| two EXITs a, c (`MISSING_ENTRY`) | resident at a, and c an EXIT declaring a residence abroad and a visit's reason | ENTRY at c − typical visitor stay (the visit of someone who moved abroad at a) |
| | resident at a (below) | ENTRY at a + typical trip of a resident |
| | a registration starts in (a, c] (at least the typical delay after a) | ENTRY the typical arrival-to-registration delay before it |
| | a permit starts in (a, c] | ENTRY the person's own typical lag after its first day (median days from a permit's first day to their recorded ENTRYs under it), else the pooled `permit_lag` |
| | non-resident leaving at a (declares a foreign residence, no long permit, no registration over [a, c]) | ENTRY at c − typical visitor stay |
| | still registered, but a foreign residence declared at a, and at c with a visit's reason (no long permit, no registration starting in the gap) | ENTRY at c − typical visitor stay (the register's stale record of an emigrant; the lost entry is another visit's) |
| anything else | none | `rules.repair`'s imputation is kept |

Every typical length and delay is a median over the data at hand (the person's own spells, else
everyone's; `MIN_DELAY_CASES` cases at least, else 0), never a simulator parameter. A resident's
typical trip is the person's own median trip drawn towards everyone's: (n × own + k ×
everyone's) / (n + k) over their n complete trips, k = `TRIP_PRIOR_WEIGHT` (2): one or two
trips of one's own predict the next worse than everyone's median does (each trip left out in
turn and predicted from the person's others: docs/methods.md section 7.3).

- *Visitor entry at a*: the ENTRY declares a foreign country of residence (Annex 2 topic H), its
  travel reason is a visit's (not SETTLE, RETURN_HOME, ASYLUM, WORK, STUDY; unknown counts as a
  visit) -- or the person is a *regular short-stay visitor* (at least 3 complete recorded stays
  of their own, median no longer than `visitor_max_stay_days`: a cross-border worker) and the
  reason is not SETTLE, RETURN_HOME or ASYLUM --, no permit other than a visitor visa overlaps
  [a, end], no population-register registration starts in [a, end], and the person has no
  asylum case. A permit that started by the EXIT before an absence of `LONG_ABSENCE_DAYS` or
  more ending at a does not count against the visit: it is the right to stay of the stay the
  person ended (a former resident on an open-ended residence permit, back on a visit).
- *Resident's trip* (a last EXIT, `resident_trip_repair`): it declares the home country as
  residence and a trip's reason (HOLIDAY, BUSINESS, FAMILY, HEALTH, TRANSIT; Annex 2 topic L),
  it is more than `resident_max_trip_days` before U (a later one may just still be away), no
  deregistration as an emigrant after it, no foreigner's permit held at it expiring unrenewed.
- *Stayer at a* (after an ENTRY): travel reason SETTLE/RETURN_HOME, or the ENTRY declares the
  home country as residence, or a long permit (not a visitor visa) overlaps [a, c], or a
  registration starts in [a, c], or the person is registered at a and the ENTRY does not declare
  a foreign residence (a registration under a foreign declaration is the register's known
  over-coverage of emigrants).
- *Resident at a* (an EXIT): the EXIT declares the home country, or the person is registered at
  a (not deregistered before c) and the EXIT does not declare a foreign residence, or a long
  permit is valid on a.
Typical lengths come from the person's complete recorded spells (both crossings recorded):
visitor stays are ENTRY→EXIT after an ENTRY declaring a foreign residence, resident trips are
EXIT→ENTRY after an EXIT declaring the home country.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from reglink.rules import pooled

STAY_REASONS = ("SETTLE", "RETURN_HOME", "ASYLUM", "WORK", "STUDY")
INTENT_REASONS = ("SETTLE", "RETURN_HOME")
VISITOR_PERMITS = ("VISA",)
VISITOR_MAX_STAY_DAYS = 90  # the visa-waiver stay of most visitors (NZ: 3 months)
MIN_DELAY_CASES = 5  # emigrants with a recorded exit needed to estimate the deregistration delay
REGULAR_MIN_STAYS = 3  # complete short stays that make a regular visitor whatever the reason
# a trip's reasons on a departure (Annex 2 topic L): declared by a resident leaving for a while
TRIP_REASONS = ("HOLIDAY", "BUSINESS", "FAMILY", "HEALTH", "TRANSIT")
RESIDENT_MAX_TRIP_DAYS = 90
LONG_ABSENCE_DAYS = 365  # an absence this long is a move abroad, never a trip
TRIP_PRIOR_WEIGHT = 2
TAIL_KINDS = {"MISSING_LAST_EXIT": "EXIT", "MISSING_LAST_ENTRY": "ENTRY"}
# imputed rows that are not between two recorded crossings: added, not moved
ADDED_KINDS = {**TAIL_KINDS, "MISSING_FIRST_ENTRY": "ENTRY", "MISSING_FIRST_EXIT": "EXIT"}
HEAD_KINDS = ("MISSING_FIRST_ENTRY", "MISSING_FIRST_EXIT")


def _day(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Date).cast(pl.Int32).cast(pl.Int64)


def _overlap_flags(spans: pl.DataFrame, permits: pl.DataFrame | None, persons: pl.DataFrame | None,
                   asylum: pl.DataFrame | None, visit_days: int = VISITOR_MAX_STAY_DAYS) -> pl.DataFrame:
    """`_r` plus evidence flags for each span (`_r, person_key, _a, _c`: days a..c).
    `_permit`: a permit (not a visitor visa) overlaps [a, c]; `_permit_visit`: one overlaps the
    first `visit_days` of it, [a, min(c, a + visit_days)] -- the days a visitor could have stayed."""
    out = spans.select("_r")
    if permits is not None and permits.height:
        pm = permits.filter(~pl.col("permit_kind").fill_null("").is_in(VISITOR_PERMITS)).select(
            "person_key", _day("valid_from").alias("_pf"), _day("valid_to").alias("_pt"),
            pl.col("permit_kind").cast(pl.String).alias("_pkind"))
        # a person's permits in continuous runs: one starting by the day after the latest end so
        # far renews the right to stay (a student's yearly study permits); `_iend` is the run's
        # last day (10**9: open-ended), `_ikind` the kind of the permit that ends it
        big = 10**9
        pm = (pm.sort("person_key", pl.col("_pf").fill_null(-big), pl.col("_pt").fill_null(big))
              .with_columns(pl.col("_pt").fill_null(big).cum_max().shift(1).over("person_key").alias("_upto"))
              .with_columns((pl.col("_upto").is_null() | (pl.col("_pf").fill_null(-big) > pl.col("_upto") + 1))
                            .cast(pl.Int32).cum_sum().over("person_key").alias("_run"))
              .with_columns(pl.col("_pt").fill_null(big).max().over("person_key", "_run").alias("_iend"),
                            pl.col("_pkind").sort_by(pl.col("_pt").fill_null(big)).last()
                            .over("person_key", "_run").alias("_ikind"))
              .drop("_upto", "_run"))
        visit_end = pl.min_horizontal(pl.col("_c"), pl.col("_a") + visit_days)
        stale = pl.col("_stale") if "_stale" in spans.columns else pl.lit(None, pl.Int64)
        # a permit that started by the exit before a long absence ending at a (`_stale`) is the
        # right to stay of the stay the person ended: no evidence against a visit now
        fresh = (stale.is_null() | (pl.col("_pf").fill_null(-10**9) > stale))
        hits = (spans.join(pm, on="person_key")
                .filter((pl.col("_pf").fill_null(-10**9) <= pl.col("_c"))
                        & (pl.col("_pt").fill_null(10**9) >= pl.col("_a")))
                .with_columns((pl.col("_pf").fill_null(-10**9) <= pl.col("_a")).alias("_pa"),
                              ((pl.col("_pf").fill_null(-10**9) <= visit_end) & fresh).alias("_pv"),
                              fresh.alias("_fresh"))
                # the end of the run of permits held at a; a permit starting after it is new
                .with_columns(pl.when(pl.col("_pa")).then(pl.col("_iend")).max().over("_r").alias("_iend_a"))
                .with_columns((pl.col("_pf").fill_null(-big) > pl.col("_iend_a").fill_null(-big) + 1)
                              .alias("_new_run"))
                .group_by("_r").agg(
                    pl.col("_fresh").any().alias("_permit"), pl.col("_pv").any().alias("_permit_visit"),
                    # ... other than one first valid after a and within a year before c: the
                    # right to stay an arrival at c takes up (`_judged`)
                    (pl.col("_pv") & (pl.col("_pa") | (pl.col("_pf") < pl.col("_c") - LONG_ABSENCE_DAYS)))
                    .any().alias("_permit_visit_not_c"),
                    # the right to stay held at a ends on _pend; a permit starting within the gap
                    # (a renewal, or the next season's) starts on _pstart
                    # an open-ended permit (no valid_to, e.g. residence) held at a never ends
                    pl.col("_pt").fill_null(10**9).filter(pl.col("_pa")).max().alias("_pend"),
                    # with its renewals the right to stay ends on _pend_norenew (10**9: never), a
                    # permit of the kind that ends it (its holders' typical lead before the end)
                    pl.col("_iend_a").first().alias("_pend_norenew"),
                    pl.col("_ikind").filter(pl.col("_pa"))
                    .sort_by(pl.col("_iend").filter(pl.col("_pa"))).last().alias("_pend_kind"),
                    pl.col("_pf").filter(~pl.col("_pa")).max().alias("_pstart"),
                    pl.col("_pf").filter(~pl.col("_pa")).min().alias("_pstart_first"),
                    # the first permit after that run: a new right to stay, not a renewal
                    pl.col("_pf").filter(pl.col("_new_run")).min().alias("_pstart_new")))
        out = out.join(hits, on="_r", how="left")
    else:
        out = out.with_columns(pl.lit(None, pl.Boolean).alias("_permit"),
                               pl.lit(None, pl.Boolean).alias("_permit_visit"),
                               pl.lit(None, pl.Boolean).alias("_permit_visit_not_c"),
                               pl.lit(None, pl.String).alias("_pend_kind"),
                               *[pl.lit(None, pl.Int64).alias(c) for c in
                                 ("_pend", "_pstart", "_pstart_first", "_pend_norenew", "_pstart_new")])
    if persons is not None and persons.height:
        dreason = pl.col("deregistration_reason") if "deregistration_reason" in persons.columns \
            else pl.lit(None, pl.String)
        rreason = pl.col("registration_reason") if "registration_reason" in persons.columns \
            else pl.lit(None, pl.String)
        pr = persons.filter(pl.col("in_population_register").fill_null(False)).select(
            "person_key", _day("registration_date").alias("_rf"), _day("deregistration_date").alias("_rt"),
            (dreason == "EMIGRATION").fill_null(False).alias("_emig"),
            (rreason == "BIRTH").fill_null(False).alias("_birth"))
        reg = spans.join(pr, on="person_key").select(
            "_r",
            # deregistered as an emigrant after a (and by c): the person left in the gap
            pl.when(pl.col("_emig") & (pl.col("_rt") > pl.col("_a")) & (pl.col("_rt") <= pl.col("_c")))
            .then(pl.col("_rt")).alias("_dereg"),
            (pl.col("_rf").is_not_null() & (pl.col("_rf") >= pl.col("_a"))
             & (pl.col("_rf") <= pl.col("_c"))).alias("_reg_starts"),
            ((pl.col("_rf").is_null() | (pl.col("_rf") <= pl.col("_a")))
             & (pl.col("_rt").is_null() | (pl.col("_rt") >= pl.col("_c")))).alias("_reg_at_a"),
            pl.when(pl.col("_rf").is_not_null() & (pl.col("_rf") >= pl.col("_a"))
                    & (pl.col("_rf") <= pl.col("_c"))).then(pl.col("_rf")).alias("_rstart"),
            # registered at birth (dated to its month) in [a, c]: born in the country then
            pl.when(pl.col("_birth") & (pl.col("_rf") >= pl.col("_a")) & (pl.col("_rf") <= pl.col("_c")))
            .then(pl.col("_rf")).alias("_born"),
        ).group_by("_r").agg(pl.col("_reg_starts").any(), pl.col("_reg_at_a").any(),
                             pl.col("_dereg").min(), pl.col("_rstart").min(), pl.col("_born").min())
        out = out.join(reg, on="_r", how="left")
        cit = persons.select("person_key", pl.col("is_citizen").fill_null(False).alias("_citizen")).unique("person_key") \
            if "is_citizen" in persons.columns else None
        if cit is not None:
            out = out.join(spans.select("_r", "person_key").join(cit, on="person_key", how="left")
                           .select("_r", "_citizen"), on="_r", how="left")
    else:
        out = out.with_columns(pl.lit(None, pl.Boolean).alias("_reg_starts"),
                               pl.lit(None, pl.Boolean).alias("_reg_at_a"),
                               pl.lit(None, pl.Int64).alias("_dereg"),
                               pl.lit(None, pl.Int64).alias("_rstart"),
                               pl.lit(None, pl.Int64).alias("_born"))
    if "_citizen" not in out.columns:
        out = out.with_columns(pl.lit(None, pl.Boolean).alias("_citizen"))
    if asylum is not None and asylum.height:
        out = out.join(spans.select("_r", "person_key")
                       .join(asylum.select("person_key").unique(), on="person_key", how="semi")
                       .select("_r", pl.lit(True).alias("_asylum")), on="_r", how="left")
    else:
        out = out.with_columns(pl.lit(None, pl.Boolean).alias("_asylum"))
    # the first asylum application made in [a, c] (`_applied`), when the register dates it
    if asylum is not None and asylum.height and "application_date" in asylum.columns:
        hits = (spans.select("_r", "person_key", "_a", "_c")
                .join(asylum.select("person_key", _day("application_date").alias("_ap")), on="person_key")
                .filter((pl.col("_ap") >= pl.col("_a")) & (pl.col("_ap") <= pl.col("_c")))
                .group_by("_r").agg(pl.col("_ap").min().alias("_applied")))
        out = out.join(hits, on="_r", how="left")
    else:
        out = out.with_columns(pl.lit(None, pl.Int64).alias("_applied"))
    return out.with_columns(pl.col(c).fill_null(False) for c in
                            ("_permit", "_permit_visit", "_permit_visit_not_c", "_reg_starts", "_reg_at_a", "_asylum",
                             "_citizen"))


def _spell_kinds(df: pl.DataFrame, home: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(visitor stays, resident trips, a resident's time at home between trips): complete
    recorded spells (both ends recorded), `person_key, _len`."""
    nxt = df.with_columns(
        pl.col("direction").shift(-1).over("person_key").alias("_ndir"),
        pl.col("_day").shift(-1).over("person_key").alias("_nday"),
        pl.col("imputed").shift(-1).over("person_key").alias("_nimp"))
    ok = ~pl.col("imputed") & ~pl.col("_nimp").fill_null(True) & (pl.col("_ndir") != pl.col("direction"))
    spells = nxt.filter(ok.fill_null(False)).select(
        "person_key", "direction", "country_of_residence", "travel_reason",
        (pl.col("_nday") - pl.col("_day")).alias("_len"))
    cor = pl.col("country_of_residence")
    stays = spells.filter((pl.col("direction") == "ENTRY") & cor.is_not_null() & (cor != home))
    # an absence of a year or more after an exit declaring home is a move abroad (the UN's
    # twelve months), not a trip: it would stretch the person's typical trip to years; so is
    # one after an exit declaring a move (to settle, return home, work, study, seek asylum
    # abroad), however soon the person came back
    trips = spells.filter((pl.col("direction") == "EXIT") & (cor == home) & (pl.col("_len") < LONG_ABSENCE_DAYS)
                          & ~pl.col("travel_reason").fill_null("").is_in(STAY_REASONS))
    # a resident's time at home between trips: ENTRY declaring the home country -> next EXIT
    at_home = spells.filter((pl.col("direction") == "ENTRY") & (cor == home))
    return stays, trips, at_home


def _own_typical(stays: pl.DataFrame, trips: pl.DataFrame, at_home: pl.DataFrame) -> pl.DataFrame:
    """Per person `_own_stay, _own_stays, _own_trip, _own_home`: medians of their own spells."""
    return (stays.group_by("person_key").agg(pl.col("_len").median().alias("_own_stay"),
                                             pl.len().alias("_own_stays"))
            .join(trips.group_by("person_key").agg(pl.col("_len").median().alias("_own_trip"),
                                                   pl.len().alias("_own_trips")),
                  on="person_key", how="full", coalesce=True)
            .join(at_home.group_by("person_key").agg(pl.col("_len").median().alias("_own_home")),
                  on="person_key", how="full", coalesce=True))


def _own_permit_timing(df: pl.DataFrame, permits: pl.DataFrame | None) -> pl.DataFrame:
    """Per person `_own_arrival_lag, _own_exit_lead`: the medians, over their own recorded
    crossings made under a permit (not a visitor visa), of the days from the permit's first day
    to an ENTRY inside it and from an EXIT inside it to the permit's last day (each crossing with
    the permit that started latest before it / ends first after it; within a year). A seasonal
    worker's seasons say when they come after their permit starts and leave before it ends."""
    empty = pl.DataFrame(schema={"person_key": pl.String, "_own_arrival_lag": pl.Float64,
                                 "_own_exit_lead": pl.Float64})
    if permits is None or permits.height == 0:
        return empty
    pm = permits.filter(~pl.col("permit_kind").fill_null("").is_in(VISITOR_PERMITS)).select(
        "person_key", _day("valid_from").alias("_pf"), _day("valid_to").alias("_pt")).drop_nulls()
    rec = df.filter(~pl.col("imputed")).select("person_key", "direction", "_day", "_r")
    inside = (rec.join(pm, on="person_key")
              .filter((pl.col("_pf") <= pl.col("_day")) & (pl.col("_day") <= pl.col("_pt"))))
    def own_median(direction: str, days: pl.Expr, name: str) -> pl.DataFrame:
        # each crossing with its nearest permit (fewest days, within a year), then per person
        return (inside.filter(pl.col("direction") == direction)
                .with_columns(days.alias("_g")).filter(pl.col("_g") <= 365)
                .group_by("_r", "person_key").agg(pl.col("_g").min())
                .group_by("person_key").agg(pl.col("_g").median().alias(name)))

    lag = own_median("ENTRY", pl.col("_day") - pl.col("_pf"), "_own_arrival_lag")
    lead = own_median("EXIT", pl.col("_pt") - pl.col("_day"), "_own_exit_lead")
    out = lag.join(lead, on="person_key", how="full", coalesce=True)
    return out.select(list(empty.columns)).cast(dict(empty.schema)) if out.height else empty


def _delay_cases(df: pl.DataFrame, persons: pl.DataFrame | None) -> pl.DataFrame | None:
    """`_lag`: days from a recorded emigration EXIT to the deregistration for emigration, per
    person whose crossing before the deregistration is a recorded EXIT (within two years)."""
    if persons is None or "deregistration_reason" not in persons.columns:
        return None
    dr = persons.filter(pl.col("deregistration_reason") == "EMIGRATION").select(
        "person_key", _day("deregistration_date").alias("_rt")).drop_nulls()
    last = (df.filter(~pl.col("imputed")).select("person_key", "direction", "_day")
            .join(dr, on="person_key").filter(pl.col("_day") <= pl.col("_rt"))
            .sort("person_key", "_day").group_by("person_key").last()
            .filter((pl.col("direction") == "EXIT") & (pl.col("_rt") - pl.col("_day") <= 730)))
    return last.select((pl.col("_rt") - pl.col("_day")).alias("_lag"))


def _arrival_cases(df: pl.DataFrame, permits: pl.DataFrame | None, persons: pl.DataFrame | None,
                   start: int) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(`_lag` from a permit's first day to the holder's first recorded ENTRY, `_lag` from that
    ENTRY to the population-register registration), per person, inside the data period."""
    first = (df.filter(pl.col("_isfirst") & (pl.col("direction") == "ENTRY") & ~pl.col("imputed"))
             .select("person_key", pl.col("_day").alias("_e")))
    permit_pairs = reg_pairs = None
    if permits is not None and permits.height:
        pm = permits.filter(~pl.col("permit_kind").fill_null("").is_in(VISITOR_PERMITS)).select(
            "person_key", _day("valid_from").alias("_pf")).filter(pl.col("_pf") >= start)
        permit_pairs = (first.join(pm, on="person_key").with_columns((pl.col("_e") - pl.col("_pf")).alias("_lag"))
                        .filter(pl.col("_lag").abs() <= 365).sort("person_key", pl.col("_lag").abs())
                        .unique("person_key", keep="first"))
    if persons is not None and persons.height:
        pr = persons.filter(pl.col("in_population_register").fill_null(False)).select(
            "person_key", _day("registration_date").alias("_rf")).filter(pl.col("_rf") >= start)
        reg_pairs = (first.join(pr, on="person_key").with_columns((pl.col("_rf") - pl.col("_e")).alias("_lag"))
                     .filter(pl.col("_lag").is_between(0, 365)))
    return permit_pairs, reg_pairs


def _kind_lead_cases(df: pl.DataFrame, permits: pl.DataFrame | None) -> pl.DataFrame | None:
    """`_lag, permit_kind`: days from a recorded last EXIT to the end of the latest (non-visitor)
    permit that started before it, within a year either side (negative: the holder left after
    it ended), per person. Holders of different kinds leave at different times: a worker a
    month before the work permit runs out, a student about when the study permit ends, often
    weeks after it (the academic year ends before the permit does not)."""
    if permits is None or permits.height == 0:
        return None
    last = df.filter(pl.col("_islast") & (pl.col("direction") == "EXIT") & ~pl.col("imputed")).select(
        "person_key", pl.col("_day").alias("_x"))
    pm = permits.filter(~pl.col("permit_kind").fill_null("").is_in(VISITOR_PERMITS)).select(
        "person_key", "permit_kind", _day("valid_from").alias("_pf"),
        _day("valid_to").alias("_pt")).drop_nulls(["_pf", "_pt", "permit_kind"])
    return (last.join(pm, on="person_key").filter(pl.col("_pf") <= pl.col("_x"))
            .sort("person_key", "_pf", "_pt").group_by("person_key").last()
            .with_columns((pl.col("_pt") - pl.col("_x")).alias("_lag"))
            .filter(pl.col("_lag").is_between(-365, 365)))


def _lead_cases(df: pl.DataFrame, permits: pl.DataFrame | None) -> pl.DataFrame | None:
    """`_lag`: days from a recorded last EXIT to the end of the (non-visitor) permit held at it,
    per person whose permit ended within a year after that exit."""
    if permits is None or permits.height == 0:
        return None
    last = df.filter(pl.col("_islast") & (pl.col("direction") == "EXIT") & ~pl.col("imputed")).select(
        "person_key", pl.col("_day").alias("_x"))
    pm = permits.filter(~pl.col("permit_kind").fill_null("").is_in(VISITOR_PERMITS)).select(
        "person_key", _day("valid_from").alias("_pf"), _day("valid_to").alias("_pt")).drop_nulls("_pt")
    return (last.join(pm, on="person_key").filter(pl.col("_pf") <= pl.col("_x"))
            .with_columns((pl.col("_pt") - pl.col("_x")).alias("_lag"))
            .filter(pl.col("_lag").is_between(0, 365)).sort("person_key", "_lag")
            .unique("person_key", keep="first"))


def _prepared(repaired: pl.DataFrame) -> pl.DataFrame:
    """The repaired crossings in person order with row index `_r`, `_day` and each row's
    neighbours (previous/next day, direction, declared residence and reason)."""
    missing = [c for c in ("country_of_residence", "travel_reason") if c not in repaired.columns]
    df = (repaired.with_columns(pl.lit(None, pl.String).alias(c) for c in missing)
          .sort("person_key", "crossing_seq").with_row_index("_r")
          .with_columns(_day("crossing_date").alias("_day")))
    cor, reason = pl.col("country_of_residence"), pl.col("travel_reason")
    p = "person_key"
    return df.with_columns(
        pl.col("_day").shift(1).over(p).alias("_pday"), pl.col("_day").shift(-1).over(p).alias("_nday"),
        pl.col("direction").shift(1).over(p).alias("_pdir"), pl.col("direction").shift(-1).over(p).alias("_ndir"),
        pl.col("_day").shift(2).over(p).alias("_ppday"), pl.col("direction").shift(2).over(p).alias("_ppdir"),
        cor.shift(1).over(p).alias("_pcor"), reason.shift(1).over(p).alias("_preason"),
        cor.shift(-1).over(p).alias("_ncor"), reason.shift(-1).over(p).alias("_nreason"),
        pl.col("crossing_date").shift(-1).over(p).alias("_ndate"),
        (pl.col("crossing_seq") == pl.col("crossing_seq").max().over(p)).alias("_islast"),
        (pl.col("crossing_seq") == pl.col("crossing_seq").min().over(p)).alias("_isfirst"))


def _asylum_cases(df: pl.DataFrame, asylum: pl.DataFrame | None) -> pl.DataFrame | None:
    """`_lag` from a claimant's first recorded crossing, an ENTRY, to their asylum application
    (within a year), per person."""
    if asylum is None or asylum.height == 0 or "application_date" not in asylum.columns:
        return None
    first = (df.filter(pl.col("_isfirst") & (pl.col("direction") == "ENTRY") & ~pl.col("imputed"))
             .select("person_key", "_day"))
    return (first.join(asylum.select("person_key", _day("application_date").alias("_ap")).drop_nulls(),
                       on="person_key")
            .with_columns((pl.col("_ap") - pl.col("_day")).alias("_lag"))
            .filter(pl.col("_lag").is_between(0, 365)).sort("person_key", "_lag")
            .unique("person_key", keep="first"))


def _tally(df: pl.DataFrame, home: str, permits: pl.DataFrame | None,
           persons: pl.DataFrame | None, start: int,
           asylum: pl.DataFrame | None = None) -> pl.DataFrame:
    stays, trips, at_home = _spell_kinds(df, home)
    permit_pairs, reg_pairs = _arrival_cases(df, permits, persons, start)
    # everyone's typical visitor stay: each visitor's own median counted once -- counted per stay,
    # a few hundred daily cross-border commuters (hundreds of same-day visits each) made it 0 days
    own_stays = stays.group_by("person_key").agg(pl.col("_len").median().round().cast(pl.Int64))
    parts = [pooled.tally("visitor_stay", own_stays, "_len"), pooled.tally("resident_trip", trips, "_len"),
             pooled.tally("time_at_home", at_home, "_len")]
    kind_leads = _kind_lead_cases(df, permits)
    if kind_leads is not None:
        parts.append(pooled.tally("expiry_lead_by_kind", kind_leads, "_lag", group="permit_kind"))
    for stat, cases in (("permit_lag", permit_pairs), ("registration_lag", reg_pairs),
                        ("reporting_delay", _delay_cases(df, persons)),
                        ("expiry_lead", _lead_cases(df, permits)),
                        ("asylum_lag", _asylum_cases(df, asylum))):
        if cases is not None:
            parts.append(pooled.tally(stat, cases, "_lag"))
    return pooled.combine(parts)


def evidence_tally(repaired: pl.DataFrame, *, home: str, start: dt.date,
                   permits: pl.DataFrame | None = None,
                   persons: pl.DataFrame | None = None,
                   asylum: pl.DataFrame | None = None) -> pl.DataFrame:
    """What a part of the persons contributes to the typical lengths and delays that
    `place_with_evidence` pools over everyone (`rules.pooled`): add up every part's tally and
    pass the sum as its `tally`. `start` is the first day of the border data (all parts)."""
    if repaired.height == 0:
        return pooled.combine([])
    return _tally(_prepared(repaired), home, permits, persons, _ordinal(start), asylum)


def _ordinal(d: dt.date) -> int:
    return d.toordinal() - dt.date(1970, 1, 1).toordinal()


def _typical_lag(t: pl.DataFrame, stat: str) -> int:
    """A pooled delay in whole days: the median over at least MIN_DELAY_CASES cases, else 0."""
    if pooled.count(t, stat) < MIN_DELAY_CASES:
        return 0
    return int(round(pooled.median(t, stat)))


def _kind_leads(t: pl.DataFrame) -> pl.DataFrame:
    """`_pend_kind, _kind_lead`: the pooled lead before a permit's end of each kind with at
    least MIN_DELAY_CASES cases (`expiry_lead_by_kind`), whole days."""
    rows = [(k, int(round(pooled.median(t, "expiry_lead_by_kind", k))))
            for k in pooled.groups(t, "expiry_lead_by_kind")
            if pooled.count(t, "expiry_lead_by_kind", k) >= MIN_DELAY_CASES]
    return pl.DataFrame(rows, schema={"_pend_kind": pl.String, "_kind_lead": pl.Int64}, orient="row")


def place_with_evidence(repaired: pl.DataFrame, log: pl.DataFrame, *, home: str,
                        until: dt.date | None, permits: pl.DataFrame | None = None,
                        persons: pl.DataFrame | None = None, asylum: pl.DataFrame | None = None,
                        visitor_max_stay_days: int = VISITOR_MAX_STAY_DAYS,
                        resident_trip_repair: bool = True,
                        resident_max_trip_days: int = RESIDENT_MAX_TRIP_DAYS,
                        start: dt.date | None = None, tally: pl.DataFrame | None = None
                        ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(repaired crossings, repair log) with imputed crossings moved, and lost last exits of
    visitors and the lost last returns of residents' trips (`resident_trip_repair`) imputed, from
    register evidence (module docstring). Keyed by `person_key`; the
    frames are those of `rules.repair.repair_crossings`. When `repaired` holds only some of the
    persons, `start` (first day of the border data), `until` and `tally` (the sum of
    `evidence_tally` over every part) make the typical lengths everyone's; by default they come
    from `repaired` itself."""
    if repaired.height == 0:
        return repaired, log
    df = _prepared(repaired)
    u = _ordinal(until or df["crossing_date"].max())
    start = _ordinal(start) if start is not None else int(df["_day"].min())
    if tally is None:
        tally = _tally(df, home, permits, persons, start, asylum)
    spans = _spans_to_judge(df, home=home, u=u, start=start,
                            resident_trip_repair=resident_trip_repair,
                            resident_max_trip_days=resident_max_trip_days)
    if spans.height == 0:
        return repaired, log
    spans = _judged(spans, df, home=home, tally=tally, permits=permits, persons=persons,
                    asylum=asylum, visitor_max_stay_days=visitor_max_stay_days,
                    resident_max_trip_days=resident_max_trip_days)
    tail = pl.col("_kind").is_in(list(TAIL_KINDS))
    head = pl.col("_kind").is_in(HEAD_KINDS)
    added = tail | head
    spans = spans.filter(pl.col("_new").is_not_null() & (~tail | (pl.col("_new") <= u)))
    moved = spans.filter(~added & (pl.col("_new") != pl.col("_old")))
    added_spans = spans.filter(added)

    return (_placed_crossings(repaired, df, moved, added_spans),
            _placed_log(log, df, moved, added_spans, start=start, u=u))


def _left_after_absence(prev_dir: str, prev_day: str, a: pl.Expr) -> pl.Expr:
    """`_stale`: for an ENTRY at `a` that ends an absence of LONG_ABSENCE_DAYS or more (the
    crossing before it an EXIT that long before), the day of that EXIT -- a permit that started
    by then is a right to stay from the stay the person ended, not evidence of this one; else
    null."""
    return (pl.when((pl.col(prev_dir) == "EXIT") & (a - pl.col(prev_day) >= LONG_ABSENCE_DAYS))
            .then(pl.col(prev_day)).otherwise(None).cast(pl.Int64).alias("_stale"))


def _spans_to_judge(df: pl.DataFrame, *, home: str, u: int, start: int,
                    resident_trip_repair: bool, resident_max_trip_days: int) -> pl.DataFrame:
    """The spans whose lost crossing register evidence may place: each imputed crossing between
    two recorded ones, and the lost crossing before a person's first or after their last
    recorded crossing (`_a`, `_c`: the span's first and last day as day numbers)."""
    cor, reason = pl.col("country_of_residence"), pl.col("travel_reason")
    p = "person_key"
    # spans to judge: imputed MISSING_EXIT/ENTRY rows (a = previous, c = next crossing), and the
    # first and last recorded crossings below (`edge_spans`)
    gap_rows = df.filter(pl.col("imputed") & pl.col("repair").is_in(["MISSING_EXIT", "MISSING_ENTRY"])
                         & pl.col("_pday").is_not_null() & pl.col("_nday").is_not_null()).select(
        "_r", p, pl.col("repair").alias("_kind"), pl.col("_pday").alias("_a"), pl.col("_nday").alias("_c"),
        pl.col("_pcor").alias("_acor"), pl.col("_preason").alias("_areason"), pl.col("_day").alias("_old"),
        pl.col("_ndate").alias("_cdate"), pl.col("_ncor").alias("_ccor"), pl.col("_nreason").alias("_creason"),
        _left_after_absence("_ppdir", "_ppday", pl.col("_pday")))
    def edge_spans(rows: pl.Expr, kind: str, a: pl.Expr, c: pl.Expr) -> pl.DataFrame:
        """Spans at a person's first or last recorded crossing (the recorded crossing is the
        `_r` row): there is no crossing on the other side, so no `_old` date and no `c` row."""
        return df.filter(rows & ~pl.col("imputed")).select(
            "_r", p, pl.lit(kind).alias("_kind"), a.cast(pl.Int64).alias("_a"),
            c.cast(pl.Int64).alias("_c"), cor.alias("_acor"), reason.alias("_areason"),
            pl.lit(None, pl.Int64).alias("_old"), pl.col("crossing_date").alias("_cdate"),
            pl.lit(None, pl.String).alias("_ccor"), pl.lit(None, pl.String).alias("_creason"))

    last, first = pl.col("_islast"), pl.col("_isfirst")
    entry, exit_ = pl.col("direction") == "ENTRY", pl.col("direction") == "EXIT"
    # trailing recorded ENTRYs on or before U: a = the entry, c = U
    tail_rows = edge_spans(last & entry & (pl.col("_day") <= u), "MISSING_LAST_EXIT",
                           pl.col("_day"), pl.lit(u)).join(
        df.select("_r", _left_after_absence("_pdir", "_pday", pl.col("_day"))), on="_r", how="left")
    # trailing recorded EXITs on or before U, a = the exit, c = U. `_trip`: a resident's trip
    # (home residence and a trip's reason declared) that left more than `resident_max_trip_days`
    # before U -- a person who left later may simply still be away at U (censored, not lost);
    # any other last exit is judged only on a registration starting after it (`_judged`)
    tail_exits = edge_spans(last & exit_ & (pl.col("_day") <= u), "MISSING_LAST_ENTRY",
                            pl.col("_day"), pl.lit(u)).join(
        df.select("_r", ((pl.col("_day") < u - resident_max_trip_days) & (cor == home)
                         & reason.fill_null("").is_in(TRIP_REASONS) & pl.lit(resident_trip_repair))
                  .alias("_trip")), on="_r", how="left")
    # a first crossing that is a recorded EXIT after the data start: if a permit or registration
    # starts between the data start and it, the person arrived in the period and the arrival
    # record was lost -- without it they look resident from the start (an emigration on leaving
    # that never was, and a missing immigration); a = the data start, c = the exit
    head_exits = edge_spans(first & exit_ & (pl.col("_day") > start), "MISSING_FIRST_ENTRY",
                            pl.lit(start), pl.col("_day"))
    # a first crossing that is a recorded ENTRY after the data start, by someone born in the
    # country in the period: they were here at birth, so they left before it (a lost EXIT)
    head_entries = edge_spans(first & entry & (pl.col("_day") > start), "MISSING_FIRST_EXIT",
                              pl.lit(start), pl.col("_day"))
    spans = pl.concat([gap_rows, tail_rows, tail_exits, head_exits, head_entries], how="diagonal_relaxed")
    if "_stale" not in spans.columns:
        spans = spans.with_columns(pl.lit(None, pl.Int64).alias("_stale"))
    return spans.with_columns(pl.col("_trip").fill_null(False))


def _judged(spans: pl.DataFrame, df: pl.DataFrame, *, home: str, tally: pl.DataFrame,
            permits: pl.DataFrame | None, persons: pl.DataFrame | None,
            asylum: pl.DataFrame | None, visitor_max_stay_days: int,
            resident_max_trip_days: int) -> pl.DataFrame:
    """The spans with the evidence case that decides each (`_case`, first match in the module
    docstring's table), the date it places the lost crossing on (`_new`, null: no case) and
    the evidence in words (`_why`)."""
    p = "person_key"
    # a person's only crossing can open both a head and a tail span: flags are keyed per span
    spans = spans.with_row_index("_sid")
    flags = _overlap_flags(spans.select(pl.col("_sid").alias("_r"), p, "_a", "_c", "_stale"), permits, persons,
                           asylum, visitor_max_stay_days)
    spans = spans.join(flags.rename({"_r": "_sid"}), on="_sid", how="left")
    spans = spans.join(_own_permit_timing(df.join(spans.select(p).unique(), on=p, how="semi"), permits),
                       on=p, how="left")
    spans = spans.join(_own_typical(*_spell_kinds(df.join(spans.select(p).unique(), on=p, how="semi"),
                                                      home)), on=p, how="left")
    pooled_stay, pooled_trip, pooled_home = (pooled.median(tally, s) for s in
                                             ("visitor_stay", "resident_trip", "time_at_home"))
    foreign = pl.col("_acor").is_not_null() & (pl.col("_acor") != home)
    home_decl = pl.col("_acor") == home
    visit_reason = ~pl.col("_areason").fill_null("").is_in(STAY_REASONS)
    # a regular short-stay visitor (a cross-border worker, a frequent business visitor): several
    # complete recorded stays of their own, typically no longer than a visitor's, whatever the
    # declared reason -- unless it is to settle, to return home or to seek asylum
    regular = ((pl.col("_own_stays").fill_null(0) >= REGULAR_MIN_STAYS)
               & (pl.col("_own_stay") <= visitor_max_stay_days).fill_null(False)
               & ~pl.col("_areason").fill_null("").is_in(("SETTLE", "RETURN_HOME", "ASYLUM")))
    # between two ENTRYs (c recorded) only a permit over the days a visitor could have stayed
    # speaks against a visit: one starting later in the gap is what brought the person back at
    # c (a residence permit granted abroad), not evidence of staying on from a; after the last
    # ENTRY (no c) any permit up to U does. When the ENTRY at c declares an arrival to stay (to
    # work, study, settle), a permit first valid after a and within a year before c, even within
    # those days, is the one that arrival takes up (granted while the person was back home; a
    # year: the window of the typical permit-to-arrival lag): only one held at a, or first valid
    # longer before c, speaks against the visit
    arrives_at_c = pl.col("_creason").fill_null("").is_in(STAY_REASONS)
    gap_permit = (pl.when((pl.col("_kind") == "MISSING_EXIT") & arrives_at_c).then(pl.col("_permit_visit_not_c"))
                  .when(pl.col("_kind") == "MISSING_EXIT").then(pl.col("_permit_visit"))
                  .otherwise(pl.col("_permit")))
    visitor = (foreign & (visit_reason | regular) & ~gap_permit & ~pl.col("_reg_starts")
               & ~pl.col("_asylum"))
    registered = pl.col("_reg_starts") | (pl.col("_reg_at_a") & ~foreign)
    # the permit held at arrival ends inside the gap, not renewed: the person left by then
    ends_unrenewed = pl.col("_pend_norenew").is_not_null() & (pl.col("_pend_norenew") < pl.col("_c"))
    permit_ends = ends_unrenewed & ~registered
    covered = pl.col("_pend").is_not_null() & (pl.col("_pend") >= pl.col("_c"))
    stayer = (pl.col("_areason").fill_null("").is_in(INTENT_REASONS) | home_decl.fill_null(False)
              | covered | registered)
    resident_exit = home_decl.fill_null(False) | (pl.col("_reg_at_a") & ~foreign)
    # a permit starting inside the gap of two exits: the person came back to take it up
    permit_starts = pl.col("_pstart").is_not_null() & (pl.col("_pstart") <= pl.col("_c"))
    nonres_exit = foreign & ~pl.col("_permit") & ~pl.col("_reg_at_a") & ~pl.col("_reg_starts")
    gap = pl.col("_c") - pl.col("_a")
    stay = pl.min_horizontal(pl.coalesce("_own_stay", pl.lit(pooled_stay, pl.Float64)).round(),
                             pl.lit(float(visitor_max_stay_days))).cast(pl.Int64)
    # a resident's typical trip: the person's own median drawn towards everyone's, as if
    # everyone's counted TRIP_PRIOR_WEIGHT trips of theirs -- one or two trips of one's own say
    # little (a single month-long holiday is no typical trip of a person whose others are not
    # recorded whole)
    n_trips = pl.col("_own_trips").fill_null(0).cast(pl.Float64)
    everyones_trip = pl.lit(pooled_trip, pl.Float64)
    trip = pl.coalesce((n_trips * pl.col("_own_trip") + TRIP_PRIOR_WEIGHT * everyones_trip)
                       / (n_trips + TRIP_PRIOR_WEIGHT),
                       "_own_trip", everyones_trip).round().cast(pl.Int64)
    at_home = pl.coalesce("_own_home", pl.lit(pooled_home, pl.Float64)).round().cast(pl.Int64)
    ex, en = pl.col("_kind") == "MISSING_EXIT", pl.col("_kind") == "MISSING_ENTRY"
    tail = pl.col("_kind").is_in(list(TAIL_KINDS))
    head = pl.col("_kind") == "MISSING_FIRST_ENTRY"
    permit_lag, reg_lag = _typical_lag(tally, "permit_lag"), _typical_lag(tally, "registration_lag")
    lead = _typical_lag(tally, "expiry_lead")
    # the lead of the kind of permit held (a student leaves about when the study permit ends, a
    # worker a month before), else everyone's
    spans = spans.join(_kind_leads(tally), on="_pend_kind", how="left")
    kind_lead = pl.coalesce(pl.col("_kind_lead"), pl.lit(lead, pl.Int64))
    # a newcomer: no permit held and not registered at the data start, one starting before the exit
    newcomer = head & pl.col("_pend").is_null()
    newcomer_permit = newcomer & ~pl.col("_reg_at_a") & pl.col("_pstart_first").is_not_null()
    newcomer_reg = newcomer & pl.col("_rstart").is_not_null() & ~pl.col("_citizen")
    tail_ex = pl.col("_kind") == "MISSING_LAST_EXIT"
    tail_en = pl.col("_kind") == "MISSING_LAST_ENTRY"
    # deregistered as an emigrant inside the gap: left the register's delay before it
    delay = _typical_lag(tally, "reporting_delay")
    dereg = pl.col("_dereg").is_not_null()
    # a foreigner's permit held at the last entry expired before U, not renewed
    # (and no later permit starts before U: a new permit, e.g. a student's work permit after
    # graduating, is evidence the person stayed on)
    tail_expired = ends_unrenewed & ~pl.col("_citizen") & pl.col("_pstart_new").is_null()
    tail_permit_ends = tail_expired & ~pl.col("_reg_starts")
    # for the lost last exit, a registration that starts while the permit held at the entry is
    # still valid is the arrival's own (a worker registering where they live), no evidence of
    # staying on after the permit: only one starting after it ended is
    reg_after_permit = pl.col("_reg_starts") & (pl.col("_rstart") > pl.col("_pend_norenew")).fill_null(True)
    tail_exit_permit_ends = tail_expired & ~reg_after_permit
    clip = lambda e: pl.min_horizontal(pl.max_horizontal(e, pl.col("_a")), pl.col("_c"))  # noqa: E731
    # one case per span, first match wins; the case decides the date and the logged evidence
    # a resident's trip whose return was lost (the span is [exit, U]; the exit declared home
    # residence and a trip's reason): no deregistration as an emigrant and no expiry of a
    # foreigner's permit after it -- either would be evidence of an emigration
    resident_trip = tail_en & pl.col("_trip") & ~dereg & ~tail_permit_ends
    # a population-register registration starting after an exit (between two exits, or after the
    # last one) is made on the spot: the person came back, the register's typical delay before
    # it -- when that falls after the exit (a registration sooner than that after the exit may
    # belong to an arrival before it)
    reg_return_date = pl.col("_rstart") - reg_lag
    asylum_lag = _typical_lag(tally, "asylum_lag")
    registered_return = ((en | tail_en) & pl.col("_rstart").is_not_null()
                         & (reg_return_date > pl.col("_a")) & (reg_return_date <= pl.col("_c")))
    # the crossing at c is a visitor's (a residence abroad and a visit's reason declared) after a
    # gap longer than two typical trips: a stayer at a who comes back so moved abroad in the gap
    # (not on a short trip just before c); a resident leaving at a who leaves again so moved
    # abroad at a, and the lost ENTRY is the visit's, before c
    c_visit_exit = (pl.col("_ccor").is_not_null() & (pl.col("_ccor") != home)
                    & ~pl.col("_creason").fill_null("").is_in(STAY_REASONS))
    c_is_visit = c_visit_exit & (gap > 2 * trip)
    # leaving at a declaring a residence abroad, with no permit or new registration over the gap
    # (a registration held at a under that declaration is the register's over-coverage)
    abroad_leaving = foreign & ~pl.col("_permit") & ~pl.col("_reg_starts")
    # the permit's end dates a departure more closely than a deregistration does (the register
    # records it weeks to a year later, its delay is spread wide; holders leave a set time before
    # the permit runs out): with both, the permit's date, unless it falls after the
    # deregistration -- the person was gone by then
    tail_permit_date = pl.max_horizontal(pl.col("_pend_norenew") - kind_lead, pl.col("_a"))
    gap_permit_date = clip(pl.col("_pend_norenew") - pl.coalesce(
        pl.col("_own_exit_lead").round().cast(pl.Int64), kind_lead))
    before_dereg = lambda d: ~dereg | (d <= pl.col("_dereg"))  # noqa: E731
    # born in the country in the period (a birth registration between the data start and the
    # first crossing, an ENTRY): left after birth -- by a deregistration as an emigrant, the
    # register's delay before it; else the middle of the days from birth to that entry
    # -- when the entry declares a residence abroad, or the register says they emigrated (an
    # entry declaring home with neither is a return from a trip: the lost exit changes nothing)
    born = ((pl.col("_kind") == "MISSING_FIRST_EXIT") & pl.col("_born").is_not_null()
            & (pl.col("_born") < pl.col("_c")) & (foreign | (dereg & (pl.col("_dereg") > pl.col("_born")))))
    born_left = pl.min_horizontal(
        pl.when(dereg & (pl.col("_dereg") > pl.col("_born")))
        .then(pl.max_horizontal(pl.col("_dereg") - delay, pl.col("_born")))
        .otherwise(pl.col("_born") + (pl.col("_c") - pl.col("_born")) // 2), pl.col("_c"))
    cases = [
        ("born_here", born, born_left),
        ("visitor_tail", tail_ex & visitor, pl.col("_a") + stay),
        ("permit_expired_tail", tail_ex & tail_exit_permit_ends & before_dereg(tail_permit_date),
         tail_permit_date),
        ("permit_expired", ex & permit_ends & before_dereg(gap_permit_date), gap_permit_date),
        ("deregistered", (tail_ex | ex) & dereg, clip(pl.col("_dereg") - delay)),
        ("newcomer_asylum", newcomer & pl.col("_applied").is_not_null(),
         clip(pl.col("_applied") - asylum_lag)),
        ("newcomer_registered", newcomer_reg, clip(pl.col("_rstart") - reg_lag)),
        ("newcomer_permit", newcomer_permit, clip(pl.col("_pstart_first") + permit_lag)),
        ("resident_trip_tail", resident_trip,
         pl.col("_a") + pl.min_horizontal(trip, pl.lit(resident_max_trip_days, pl.Int64))),
        ("visitor", ex & visitor, pl.col("_a") + pl.min_horizontal(stay, gap)),
        ("emigrated_in_gap", ex & stayer & c_is_visit,
         pl.col("_a") + pl.min_horizontal(at_home.fill_null(gap), (gap + 1) // 2)),
        ("stayer", ex & stayer, pl.col("_c") - pl.min_horizontal(trip, gap)),
        ("visitor_leaving_at_c", en & resident_exit & c_is_visit,
         pl.col("_c") - pl.min_horizontal(stay, gap)),
        ("resident_leaving", en & resident_exit, pl.col("_a") + pl.min_horizontal(trip, gap)),
        ("registered_return", registered_return, reg_return_date),
        ("permit_starts", en & permit_starts,
         clip(pl.col("_pstart") + pl.coalesce(pl.col("_own_arrival_lag").round(), pl.lit(float(permit_lag))).cast(pl.Int64))),
        ("nonresident_leaving", en & nonres_exit, pl.col("_c") - pl.min_horizontal(stay, gap)),
        # a person declaring a residence abroad on leaving at a, still registered (the
        # register's over-coverage of emigrants), who leaves again declaring a residence abroad
        # and a visit's reason at c: the lost ENTRY is another visit's
        ("visitor_leaving_again", en & abroad_leaving & c_visit_exit,
         pl.col("_c") - pl.min_horizontal(stay, gap)),
    ]
    case = pl.lit(None, pl.String)
    date = pl.lit(None, pl.Int64)
    for name, cond, when in reversed(cases):
        case = pl.when(cond).then(pl.lit(name)).otherwise(case)
        date = pl.when(cond).then(when).otherwise(date)
    spans = spans.with_columns(case.alias("_case"), date.alias("_new"))
    return _with_evidence_text(spans, tally)



def _with_evidence_text(spans: pl.DataFrame, tally: pl.DataFrame) -> pl.DataFrame:
    """The judged spans with the evidence of each placement in words (`_why`), as the repair
    log gives it: the case, and whose typical length or delay dated the crossing."""
    delay = _typical_lag(tally, "reporting_delay")
    lead = _typical_lag(tally, "expiry_lead")
    permit_lag, reg_lag = _typical_lag(tally, "permit_lag"), _typical_lag(tally, "registration_lag")
    asylum_lag = _typical_lag(tally, "asylum_lag")
    own_len = (pl.when(pl.col("_case").is_in(["visitor_tail", "visitor", "nonresident_leaving", "visitor_leaving_again",
                                              "visitor_leaving_at_c"]))
               .then(pl.when(pl.col("_own_stay").is_not_null()).then(pl.lit("the person's own median stay"))
                     .otherwise(pl.lit("the median visitor stay")))
               .when(pl.col("_case").is_in(["stayer", "resident_leaving", "resident_trip_tail"]))
               .then(pl.when(pl.col("_own_trip").is_not_null())
                     .then(pl.lit("the person's own median trip drawn towards everyone's"))
                     .otherwise(pl.lit("the median resident trip")))
               .when(pl.col("_case").is_in(["permit_expired_tail", "permit_expired"]))
               .then(pl.when(pl.col("_kind_lead").is_not_null())
                     .then(pl.format("of {} permits, {} days", pl.col("_pend_kind"), pl.col("_kind_lead")))
                     .otherwise(pl.lit(f"of any permit, {lead} days"))))
    why = {
        "born_here": "registered at birth in the country during the period, first crossing an "
                     "ENTRY: left after birth, the register's median reporting delay before a "
                     "deregistration as an emigrant, else halfway from the birth month to that "
                     "entry{}",
        "visitor_tail": "visitor entry (residence abroad declared, no permit beyond a visitor visa, "
                        "no registration, no asylum case): exit after {}",
        "visitor": "visitor entry (residence abroad declared, no permit beyond a visitor visa, "
                   "no registration, no asylum case): exit after {}",
        "deregistered": "deregistered as an emigrant: exit the register's median reporting delay "
                        f"({delay} days) before the deregistration{{}}",
        "permit_expired_tail": "a foreigner's permit held at the last entry expired, not renewed: "
                               "exit on its last day less the typical lead {}",
        "newcomer_registered": "first crossing an EXIT, registered in the population register "
                               f"during the period: arrival the typical {reg_lag} days before "
                               "the registration{}",
        "newcomer_permit": "first crossing an EXIT, a permit first valid during the period: "
                           f"arrival the typical {permit_lag} days after its first day{{}}",
        "permit_expired": "the permit held at arrival expired inside the gap, not renewed: exit on "
                          "its last day less the person's own median days from an exit to the end "
                          "of the permit held at it (none recorded: the typical lead {})",
        "emigrated_in_gap": "stayer at the first entry, visitor (residence abroad and a visit's "
                            "reason declared) at the second: moved abroad in between, exit after "
                            "the typical time at home between trips (at most half the gap){}",
        "stayer": "stayer (permit covering the gap, registration, home residence or intent declared): "
                  "exit {} before the next entry",
        "resident_trip_tail": "a resident's trip (home residence and a trip's reason declared "
                              "on the exit, no deregistration, no permit expiry): entry after {}",
        "visitor_leaving_at_c": "resident leaving at the first exit, visitor (residence abroad and a "
                                "visit's reason declared) leaving at the second: the lost entry is "
                                "the visit's, {} before the second exit",
        "resident_leaving": "resident leaving (home residence declared or registered): entry after {}",
        "newcomer_asylum": "first crossing an EXIT, an asylum application during the period: "
                           f"arrival the typical {asylum_lag} days before it{{}}",
        "registered_return": "registered in the population register after the exit: entry the "
                             f"typical {reg_lag} days before the registration{{}}",
        "permit_starts": "a permit starts inside the gap: entry on its first day plus the person's "
                         "own median days from a permit's first day to an entry under it (none "
                         f"recorded: the typical {permit_lag}){{}}",
        "visitor_leaving_again": "registered, but residence abroad declared on leaving at both "
                                 "exits, a visit's reason at the second, no permit or new "
                                 "registration: the lost entry is a visit's, {} before the second exit",
        "nonresident_leaving": "non-resident leaving (residence abroad declared, no permit or "
                               "registration): entry {} before the next exit",
    }
    text = pl.lit(None, pl.String)
    for name, template in why.items():
        text = pl.when(pl.col("_case") == name).then(
            pl.format(template, own_len.fill_null(""))).otherwise(text)
    spans = spans.with_columns(text.alias("_why"))
    return spans

def _placed_crossings(repaired: pl.DataFrame, df: pl.DataFrame, moved: pl.DataFrame,
                      added_spans: pl.DataFrame) -> pl.DataFrame:
    """The crossings with the moved imputations on their new dates and the lost first and last
    crossings added, renumbered per person."""
    p = "person_key"
    # move the imputed rows
    out = df.join(moved.select("_r", "_new"), on="_r", how="left").with_columns(
        pl.when(pl.col("_new").is_not_null())
        .then(pl.col("_new").cast(pl.Int32).cast(pl.Date)).otherwise(pl.col("crossing_date"))
        .alias("crossing_date"))
    keep = list(repaired.columns)
    new_dir = pl.col("_kind").replace_strict(ADDED_KINDS, return_dtype=pl.String)
    new_rows = added_spans.select(
        p, new_dir.alias("direction"),
        pl.col("_new").cast(pl.Int32).cast(pl.Date).alias("crossing_date"),
        pl.lit(True).alias("imputed"), pl.col("_kind").alias("repair"), pl.col("_r"))
    # an added row goes right after (a lost last crossing) or right before (a lost first entry)
    # the recorded one; every person's crossing_seq is then renumbered 0, 1, ...
    seq_type = df.schema["crossing_seq"]
    new_rows = new_rows.join(df.select("_r", "crossing_seq"), on="_r").with_columns(
        (pl.col("crossing_seq").cast(pl.Float64)
         + pl.when(pl.col("repair").is_in(HEAD_KINDS)).then(-0.5).otherwise(0.5))
        .alias("crossing_seq"))
    result = (pl.concat([out.select(keep).with_columns(pl.col("crossing_seq").cast(pl.Float64)),
                         new_rows.select([c for c in keep if c in new_rows.columns])],
                        how="diagonal_relaxed").select(keep).sort(p, "crossing_seq")
              .with_columns((pl.int_range(pl.len()).over(p)).cast(seq_type).alias("crossing_seq")))
    return result


def _placed_log(log: pl.DataFrame, df: pl.DataFrame, moved: pl.DataFrame,
                added_spans: pl.DataFrame, *, start: int, u: int) -> pl.DataFrame:
    """The repair log: moved imputations with their new date and evidence; the added lost
    first and last crossings as rows of their own."""
    p = "person_key"
    head = pl.col("_kind") == "MISSING_FIRST_ENTRY"
    tail_ex = pl.col("_kind") == "MISSING_LAST_EXIT"
    new_dir = pl.col("_kind").replace_strict(ADDED_KINDS, return_dtype=pl.String)
    # the log: moved imputations get the new date and the evidence; lost last crossings are added
    upd = moved.select(p, pl.col("_kind").alias("kind"), pl.col("_cdate").alias("crossing_date"),
                       pl.col("_old").cast(pl.Int32).cast(pl.Date).alias("imputed_date"),
                       pl.col("_new").cast(pl.Int32).cast(pl.Date).alias("_new_date"), "_why")
    lg = log.join(upd, on=[p, "kind", "crossing_date", "imputed_date"], how="left")
    lg = lg.with_columns(
        pl.coalesce("_new_date", "imputed_date").alias("imputed_date"),
        pl.when(pl.col("_why").is_not_null())
        .then(pl.format("{}; moved by register evidence to {}: {}", pl.col("reason"),
                        pl.col("_new_date"), pl.col("_why")))
        .otherwise(pl.col("reason")).alias("reason")).select(log.columns)
    rec = next((c for c in ("crossing_record_id", "record_id") if c in df.columns), None)
    tail_log = added_spans.join(df.select("_r", *([rec] if rec else [])), on="_r").select(
        p, pl.col("_kind").alias("kind"), pl.col("_cdate").alias("crossing_date"),
        pl.col("_new").cast(pl.Int32).cast(pl.Date).alias("imputed_date"),
        new_dir.alias("direction"),
        pl.lit(None, pl.Int64).alias("row"),
        (pl.col(rec).cast(pl.String) if rec else pl.lit(None, pl.String)).alias("record_id"),
        pl.when(head).then(pl.format("first crossing an EXIT on {} with no entry since {}: ENTRY "
                                      "imputed: {}", pl.col("_cdate"),
                                      pl.lit(dt.date(1970, 1, 1) + dt.timedelta(days=start)), pl.col("_why")))
        .when(pl.col("_kind") == "MISSING_FIRST_EXIT")
        .then(pl.format("first crossing an ENTRY on {} with no exit since {}: EXIT imputed: {}",
                        pl.col("_cdate"), pl.lit(dt.date(1970, 1, 1) + dt.timedelta(days=start)),
                        pl.col("_why")))
        .otherwise(pl.format("last crossing an {} on {} with no {} by {}: {} imputed: {}",
                  pl.when(tail_ex).then(pl.lit("ENTRY")).otherwise(pl.lit("EXIT")),
                  pl.col("_cdate"),
                  pl.when(tail_ex).then(pl.lit("exit")).otherwise(pl.lit("return")),
                  pl.lit(dt.date(1970, 1, 1) + dt.timedelta(days=u)), new_dir, pl.col("_why")))
        .alias("reason"))
    log_out = pl.concat([lg, tail_log.cast(dict(log.schema))]).sort(p, "crossing_date", "kind")
    return log_out
