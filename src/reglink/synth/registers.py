"""Observe the four registers from the simulated truth of one chunk.

Each function returns a polars DataFrame in the canonical schema (reglink.schemas), without
record_id yet (the writer numbers records across chunks), plus the hidden columns `_pid` (true
person) and `_noise` (comma-separated noise applied to the record, for tests and error
analysis), and `_xrow` for border records (the true crossing they record).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from reglink.synth import noise as nz
from reglink.synth.identity import passport_at, person_numbers, spelled_names
from reglink.schemas import TRAVEL_REASON
from reglink.synth.movements import ENTRY, EXIT, MODES
from reglink.synth.names import NamePools
from reglink.synth.people import DECISIONS, P
from reglink.synth.timeline import NEVER, Period, choice_map, lognormal



def _person_fields(a, idx, given, surname, dob, citizenship) -> dict:
    """The identifying person columns every person register shares, in schema order."""
    return {"given_names": given.astype(str), "surname": surname.astype(str),
            "sex": a["sex"][idx], "date_of_birth": dob, "country_of_birth": a["cob"][idx],
            "citizenship": citizenship}

def _noise_col(masks: dict[str, np.ndarray], n: int) -> pl.Series:
    """'typo,dob_swap' style labels from boolean masks ("" when the record is clean)."""
    exprs = [pl.when(pl.Series(m)).then(pl.lit(name)) for name, m in masks.items()
             if m is not None and np.any(m)]
    if not exprs or n == 0:
        return pl.Series([""] * n, dtype=pl.Utf8)
    return pl.select(pl.concat_str(exprs, separator=",", ignore_nulls=True)).to_series().fill_null("")


def _typo_names(rng: np.random.Generator, given: np.ndarray, surname: np.ndarray, rate: float):
    """A keying error in the given names or the surname (half each)."""
    which = rng.random(len(given)) < 0.5
    g, hg = nz.typo(rng, given, rate)
    s, hs = nz.typo(rng, surname, rate)
    given = np.where(which, g, given)
    surname = np.where(which, surname, s)
    return given, surname, np.where(which, hg, hs)


def _swap(rng: np.random.Generator, pools: NamePools, group: np.ndarray | None, given: np.ndarray,
          surname: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Given names and surname written in each other's place; five times as often for names
    whose culture writes the surname first (Chinese, Korean, Vietnamese) when `group` is given."""
    p = np.full(len(given), rate)
    if group is not None:
        first = np.array([pools.surname_first[g] for g in pools.groups])[group]
        p = np.where(first, min(1.0, 5 * rate), rate)
    hit = rng.random(len(given)) < p
    return np.where(hit, surname, given), np.where(hit, given, surname), hit


def _typo_series(rng: np.random.Generator, given: pl.Series, surname: pl.Series,
                 rate: float) -> tuple[pl.Series, pl.Series, np.ndarray]:
    """`_typo_names` on polars columns: only the rows hit become Python strings."""
    n = len(given)
    hit = rng.random(n) < rate
    idx = np.flatnonzero(hit)
    if not len(idx):
        return given, surname, hit
    which = rng.random(len(idx)) < 0.5
    gi, si = idx[which], idx[~which]
    new_g, hg = nz.typo(rng, np.array(given.gather(gi).to_list(), dtype=object), 1.0)
    new_s, hs = nz.typo(rng, np.array(surname.gather(si).to_list(), dtype=object), 1.0)
    if len(gi):
        given = given.scatter(gi, pl.Series(new_g.tolist(), dtype=pl.Utf8))
    if len(si):
        surname = surname.scatter(si, pl.Series(new_s.tolist(), dtype=pl.Utf8))
    out = np.zeros(n, bool)
    out[gi[hg]] = True
    out[si[hs]] = True
    return given, surname, out


def _null_where(s: pl.Series, mask: np.ndarray) -> pl.Series:
    return s.to_frame("v").select(pl.when(~pl.Series(mask)).then(pl.col("v"))).to_series()


def _pick_series(rng: np.random.Generator, options: dict[str, float], n: int) -> pl.Series:
    keys = list(options)
    w = np.array([float(options[k]) for k in keys])
    i = np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right").clip(0, len(keys) - 1)
    return pl.Series(keys).gather(i)


def border_register(rng: np.random.Generator, a: dict[str, np.ndarray], x: dict[str, np.ndarray],
                    pid: np.ndarray, scen: dict[str, Any], period: Period, pools: NamePools,
                    places: dict[str, Any]) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """Border crossings register. Returns (records, recorded mask over true crossings,
    observed mask over true crossings)."""
    r = scen["noise"]["border_crossings"]
    nx = len(x["idx"])
    observed = x["day"] <= period.observed_until
    u = rng.random(nx)
    missed = np.where(x["dir"] == EXIT, u < r["missing_exit"], u < r["missing_entry"])
    recorded = observed & ~missed
    rows = np.flatnonzero(recorded)
    # duplicates: the same crossing recorded twice
    dup = rng.random(len(rows)) < r["duplicate"]
    rows_all = np.concatenate([rows, rows[dup]])
    is_dup = np.concatenate([np.zeros(len(rows), bool), np.ones(int(dup.sum()), bool)])
    idx = x["idx"][rows_all]
    day = x["day"][rows_all]
    n = len(rows_all)
    countries = pl.Series(a["countries"].tolist(), dtype=pl.Utf8)
    names0 = spelled_names(rng, pools, a, "passport", {})
    names1 = spelled_names(rng, pools, a, "home_passport", {"translit_variant": 0.3, "diacritics_dropped": 1.0})
    docs, _, series = passport_at(a, idx, pid[idx], day, period.home)
    home_pp = pl.Series(series == 1)

    def per_person(values: np.ndarray) -> pl.Series:
        return nz.series(values).cast(pl.Utf8).gather(idx)

    def choose(s1: pl.Series, s0: pl.Series) -> pl.Series:
        return pl.select(pl.when(home_pp).then(s1).otherwise(s0)).to_series()

    given = choose(per_person(names1["given"]), per_person(names0["given"]))
    surname = choose(per_person(names1["surname"]), per_person(names0["surname"]))
    given, surname, typo_hit = _typo_series(rng, given, surname, r["typo"])
    dob, sw, part, _ = nz.dob_strings(rng, a["dob"][idx], r["dob_swap"], r["dob_partial"], before=day)
    citizenship = choose(pl.Series([period.home]).gather(np.zeros(n, np.int64)), per_person(a["cit_orig"]))
    mode_code = x["mode"][rows_all]
    bp = pl.select(pl.when(pl.Series(mode_code == 1))
                   .then(_pick_series(rng, places["border_points"]["sea"], n))
                   .otherwise(_pick_series(rng, places["border_points"]["air"], n))).to_series()
    occ = per_person(a["occupation"])
    df = pl.DataFrame({
        "direction": pl.Series(["ENTRY", "EXIT"]).gather(x["dir"][rows_all]),
        "crossing_date": nz.days_to_date(day),
        "sex": _null_where(per_person(a["sex"]), rng.random(n) < r["missing_sex"]),
        "date_of_birth": dob,
        "country_of_birth": _null_where(per_person(a["cob"]), rng.random(n) < r["missing_country_of_birth"]),
        "given_names": given,
        "surname": surname,
        "citizenship": citizenship,
        "country_of_residence": countries.gather(x["declared"][rows_all]),
        "document_type": pl.Series(["PASSPORT"]).gather(np.zeros(n, np.int64)),
        "document_number": docs,
        "document_country": citizenship,
        "origin_destination": countries.gather(x["other"][rows_all]),
        "travel_reason": _null_where(pl.Series(list(TRAVEL_REASON)).gather(x["reason"][rows_all]),
                                     rng.random(n) < r["missing_travel_reason"]),
        "occupation": _null_where(occ, (rng.random(n) < r["missing_occupation"]) | (occ == "").to_numpy()),
        "transport_mode": pl.Series(list(MODES)).gather(mode_code),
        "border_point": bp,
    })
    df = df.with_columns(
        _pid=pl.Series(pid[idx]),
        _xrow=pl.Series(rows_all.astype(np.int64)),
        _dup=pl.Series(is_dup),
        _noise=_noise_col({"duplicate": is_dup, "typo": typo_hit, "dob_swap": sw, "dob_partial": part}, n),
    )
    return df, recorded, observed


def _registration_delay(rng, spec, n):
    return np.maximum(0, lognormal(rng, spec, n)).astype(np.int64)


def population_register(rng: np.random.Generator, a: dict[str, np.ndarray], pid: np.ndarray,
                        scen: dict[str, Any], period: Period, pools: NamePools,
                        addr: dict[str, np.ndarray]) -> pl.DataFrame:
    """Registration spells: one record per spell in which the person was registered, cut at
    observed_until; late registration, missing de-registration, stale diaspora records."""
    r = scen["noise"]["population_register"]
    spells = _registration_spells(rng, a, r, period)
    if spells is None:
        return pl.DataFrame()
    return _population_records(rng, a, pid, spells, r, period, pools, addr)


def _registration_spells(rng: np.random.Generator, a: dict[str, np.ndarray], r: dict[str, Any],
                         period: Period) -> dict[str, np.ndarray] | None:
    """Every registration spell of the chunk's persons (person index, spell number, dates,
    reasons, countries), as the register would have recorded it; None without any."""
    n = len(a["profile"])
    prof = a["profile"]
    home = period.home
    T0, TO = period.start, period.observed_until
    never_reg = rng.random(n) < r["never_registered"]
    foreign = a["cob"] != home
    # --- open at the start ---
    is_open = np.zeros(n, bool)
    reg = np.full(n, NEVER, np.int64)
    reason = np.full(n, "", dtype="<U11")
    prev = np.full(n, "", dtype="<U3")
    at_start = a["home0"] & (a["dob"] < T0)
    birth_reg = a["dob"] + rng.integers(1, 30, n)
    imm_reg = np.where(a["arrival0"] < NEVER, a["arrival0"], a["dob"]) + _registration_delay(rng, r["registration_delay_days"], n)
    native_born = ~foreign
    open0 = (at_start & (native_born | ~never_reg)) | (prof == P["birth"]) | a["stale"]
    is_open[open0] = True
    reg = np.where(open0, np.where(native_born, birth_reg, imm_reg), NEVER)
    reason = np.where(open0, np.where(native_born, "BIRTH", "IMMIGRATION"), "")
    prev = np.where(open0 & foreign, a["cob"], "")
    recs: list[dict[str, np.ndarray]] = []

    qualifies_on_arrival = np.isin(prof, [P["native_resident"], P["native_abroad"], P["immigrant_settled"],
                                          P["immigrant_new"], P["child"], P["birth"]])
    qualifies_on_arrival |= (prof == P["student"]) & (a["study_years"] >= 1)
    qualifies_on_arrival |= (prof == P["short_term_worker"]) & ((a["t"][:, 1] - a["t"][:, 0]) >= 365)
    positive = np.isin(a["decision"], [DECISIONS.index("REFUGEE"), DECISIONS.index("SUBSIDIARY")])
    asylum = prof == P["asylum_seeker"]

    def emit(mask, dereg, dreason, nxt, spell_no):
        sel = np.flatnonzero(mask & (reg <= TO))
        if len(sel):
            recs.append({"idx": sel, "spell": np.full(len(sel), spell_no), "reg": reg[sel],
                         "reason": reason[sel], "prev": prev[sel],
                         "dereg": dereg[sel], "dreason": dreason[sel], "next": nxt[sel]})

    for k in range(3):
        t = a["t"][:, k]
        has = t < NEVER
        leaving = has & (a["home0"] ^ (k % 2 == 1))
        arriving = has & ~leaving
        # left before the late registration happened: no record of this spell at all
        is_open &= ~(leaving & is_open & (reg > t))
        # emigration: de-register (or not)
        dd = np.maximum(t + _registration_delay(rng, r["deregistration_delay_days"], n), reg + 1)
        tells = leaving & is_open & (rng.random(n) < r["emigrant_deregistered"]) & (dd <= TO)
        emit(tells, dd, np.full(n, "EMIGRATION", "<U11"), a["res_abroad"], k)
        is_open &= ~tells
        # arrival: register (late) unless still registered
        late = t + _registration_delay(rng, r["registration_delay_days"], n)
        late = np.where(asylum, a["decision_date"] + _registration_delay(rng, r["registration_delay_days"], n), late)
        ok = arriving & ~is_open & ~never_reg & (qualifies_on_arrival | (asylum & positive))
        reg = np.where(ok, late, reg)
        reason = np.where(ok, "IMMIGRATION", reason)
        prev = np.where(ok, a["res_abroad"], prev)
        is_open |= ok
    # still open at the end: de-registered only by death
    dies = is_open & (a["death"] < NEVER)
    dd = a["death"] + rng.integers(1, 21, n)
    by_death = dies & (rng.random(n) < r["death_deregistered"]) & (dd <= TO)
    emit(is_open, np.where(by_death, dd, NEVER), np.where(by_death, "DEATH", ""), np.full(n, "", "<U3"), 3)
    if not recs:
        return None
    return {k: np.concatenate([x[k] for x in recs]) for k in recs[0]}


def _population_records(rng: np.random.Generator, a: dict[str, np.ndarray], pid: np.ndarray,
                        R: dict[str, np.ndarray], r: dict[str, Any], period: Period,
                        pools: NamePools, addr: dict[str, np.ndarray]) -> pl.DataFrame:
    """The register's records of the spells `R`: duplicates, names and dates as keyed (with
    their errors), person numbers, parents' numbers and addresses."""
    home, TO = period.home, period.observed_until
    idx = R["idx"]
    # duplicates: a second registration of the same person, with its own number
    dup = rng.random(len(idx)) < r["duplicate"]
    didx = np.flatnonzero(dup)
    all_rows = np.concatenate([np.arange(len(idx)), didx])
    is_dup = np.concatenate([np.zeros(len(idx), bool), np.ones(len(didx), bool)])
    idx = idx[all_rows]
    m = len(idx)
    names = spelled_names(rng, pools, a, "latin", r)
    given, surname = names["given"][idx], names["surname"][idx]
    given, surname, sw_hit = _swap(rng, pools, a["name_group"][idx], given, surname, r["swap_order"])
    given, surname, typo_hit = _typo_names(rng, given, surname, r["typo"])
    # a duplicate is keyed up to two months later, but still before the spell's de-registration
    regd = np.minimum(R["reg"][all_rows] + np.where(is_dup, rng.integers(0, 60, m), 0),
                      np.maximum(R["reg"][all_rows], R["dereg"][all_rows] - 1))
    dob, dsw, dpart, _ = nz.dob_strings(rng, a["dob"][idx], r["dob_swap"], r["dob_partial"],
                                        before=np.minimum(regd, TO))
    pnum = person_numbers(pid[idx]).to_numpy().astype(object)
    # a duplicate registration's own number: unique per (person, spell), apart from real numbers
    dup_numbers = person_numbers(500_000_000 + pid[idx] * 4 + R["spell"][all_rows]).to_numpy()
    pnum = np.where(is_dup, dup_numbers, pnum)
    mother, father = _parent_numbers(a, pid, idx, R["idx"], R["reason"][all_rows] == "BIRTH")
    dereg = R["dereg"][all_rows]
    nat = a["nat_date"][idx]
    nat_known = (nat <= TO)
    cit = np.where(nat_known, home, a["cit"][idx])
    df = nz.frame({
        "person_number": pnum.astype(str),
        **_person_fields(a, idx, given, surname, dob, cit),
        "registration_date": nz.days_to_date(np.minimum(regd, TO)),
        "registration_reason": R["reason"][all_rows],
        "previous_country": nz.text(R["prev"][all_rows]),
        "deregistration_date": nz.days_to_date(np.where(dereg < NEVER, dereg, 0)),
        "deregistration_reason": nz.text(R["dreason"][all_rows], dereg >= NEVER),
        "next_country": nz.text(R["next"][all_rows], dereg >= NEVER),
        "naturalisation_date": nz.days_to_date(np.where(nat_known & (nat < NEVER), nat, 0)),
        "region": addr["region"][idx].astype(str),
        "address": addr["address"][idx].astype(str),
        "locality": addr["locality"][idx].astype(str),
        "postcode": addr["postcode"][idx].astype(str),
        "mother_person_number": mother,
        "father_person_number": father,
    })
    df = df.with_columns(
        deregistration_date=pl.when(pl.Series(dereg < NEVER)).then(pl.col("deregistration_date")),
        naturalisation_date=pl.when(pl.Series(nat_known & ~(a["cob"][idx] == home) & (nat < NEVER)))
        .then(pl.col("naturalisation_date")),
    ).with_columns(
        _pid=pl.Series(pid[idx]), _dup=pl.Series(is_dup),
        _noise=_noise_col({"duplicate": is_dup, "swap_order": sw_hit, "typo": typo_hit,
                           "nickname": names["nickname"][idx], "middle_name_dropped": names["middle_dropped"][idx],
                           "dob_swap": dsw, "dob_partial": dpart}, m),
    )
    return df


def _parent_numbers(a: dict[str, np.ndarray], pid: np.ndarray, idx: np.ndarray,
                    registered: np.ndarray, birth: np.ndarray) -> tuple[pl.Series, pl.Series]:
    """(mother_person_number, father_person_number) of each register record: the parent's own
    register number on a BIRTH registration whose parent is registered (as a register records a
    birth to its residents), else missing. The world knows one parent per child, so one of the
    two is filled, by the parent's sex. No random draw: the other registers' streams stay put."""
    par = a["parent"][idx]
    known = birth & (par >= 0)
    known &= np.isin(np.where(par >= 0, par, -1), registered)
    numbers = person_numbers(pid[np.where(known, par, 0)]).to_numpy().astype(object)
    numbers = np.where(known, numbers, "")
    female = a["sex"][np.where(known, par, 0)] == "F"
    return (nz.text(np.where(female, numbers, "").astype(str)),
            nz.text(np.where(~female, numbers, "").astype(str)))


def permits_register(rng: np.random.Generator, a: dict[str, np.ndarray], x: dict[str, np.ndarray],
                     pid: np.ndarray, scen: dict[str, Any], period: Period, pools: NamePools,
                     addr: dict[str, np.ndarray], addr_old: dict[str, np.ndarray]) -> pl.DataFrame:
    """Residence, work and study permits and visitor visas, granted before arrival (some never
    used), renewed while the person stays."""
    r = scen["noise"]["permits"]
    B = scen["behaviour"]["permits"]
    prof = a["profile"]
    n = len(pid)
    T0, TO = period.start, period.observed_until
    lead = lognormal(rng, B["issue_before_arrival_days"], n).astype(np.int64)
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # idx, kind, purpose, from, to

    def add(mask, kind, purpose, vfrom, vto):
        sel = np.flatnonzero(mask)
        if len(sel):
            kind_a = np.broadcast_to(np.asarray(kind, dtype="<U9"), (n,))[sel]
            pur_a = np.broadcast_to(np.asarray(purpose, dtype="<U12"), (n,))[sel]
            rows.append((sel, kind_a, pur_a, np.broadcast_to(vfrom, (n,))[sel], np.broadcast_to(vto, (n,))[sel]))

    t1, t2 = a["t"][:, 0], a["t"][:, 1]
    child = a["parent"] >= 0
    res_purpose = choice_map(rng, {"WORK": 0.5, "FAMILY": 0.35, "OTHER": 0.15}, n)
    # new immigrants (and their children)
    newi = (prof == P["immigrant_new"]) | (child & (prof == P["child"]) & (a["permit_kind"] != "") & (t1 < NEVER)
                                           & ~a["home0"])
    f0 = t1 - lead
    res = newi & (a["permit_kind"] == "RESIDENCE")
    work = newi & (a["permit_kind"] == "WORK")
    add(res, "RESIDENCE", np.where(child, "FAMILY", res_purpose), f0, NEVER)
    wyears = int(B["work_permit_years"] * 365)
    add(work, "WORK", np.where(child, "FAMILY", "WORK"), f0, f0 + wyears)
    add(work & (t2 > f0 + wyears), "RESIDENCE", np.where(child, "FAMILY", res_purpose), f0 + wyears - 20, NEVER)
    # settled immigrants who are not citizens hold a permanent residence permit
    add((prof == P["immigrant_settled"]) & (a["cit"] != period.home), "RESIDENCE", res_purpose,
        a["arrival0"] - lead, NEVER)
    # students: one study permit per year, then maybe a work permit
    st = prof == P["student"]
    yrs = a["study_years"]
    for j in range(5):
        m = st & (yrs > j)
        vf = t1 - lead + j * 365
        add(m, "STUDY", "STUDY", vf, vf + np.minimum(365, ((yrs - j) * 365).astype(np.int64) + 30))
    add(st & a["stay_on"], "WORK", "WORK", t1 + (yrs * 365).astype(np.int64) - 20,
        t1 + (yrs * 365).astype(np.int64) - 20 + wyears)
    # short-term workers
    add(prof == P["short_term_worker"], "WORK", "WORK", f0, t2 + 30)
    # asylum: humanitarian residence after a positive decision
    positive = (prof == P["asylum_seeker"]) & np.isin(a["decision"], [1, 2])
    add(positive, "RESIDENCE", "HUMANITARIAN", a["decision_date"] + rng.integers(10, 60, n), NEVER)
    # permits never used
    ns = prof == P["permit_no_show"]
    add(ns & (a["permit_kind"] == "WORK"), "WORK", "WORK", a["work_from"], a["work_from"] + wyears)
    add(ns & (a["permit_kind"] == "RESIDENCE"), "RESIDENCE", res_purpose, a["work_from"], NEVER)
    # per crossing: seasonal work permits and visitor visas
    visa_req = np.isin(a["cit"], scen["countries"]["visa_required"])
    ent = x["dir"] == ENTRY
    seas = ent & (x["kind"] == 3)
    vis = ent & (x["kind"] == 1) & (prof[x["idx"]] == P["tourist"]) & visa_req[x["idx"]]
    extra = []
    for mask, kind, purpose, length in ((seas, "WORK", "WORK", 240), (vis, "VISA", "OTHER", 270)):
        sel = np.flatnonzero(mask)
        if len(sel):
            who = x["idx"][sel]
            vf = x["day"][sel] - lead[who]
            extra.append((who, np.full(len(sel), kind, "<U9"), np.full(len(sel), purpose, "<U12"), vf, vf + length))
    rows.extend(extra)
    if not rows:
        return pl.DataFrame()
    idx = np.concatenate([q[0] for q in rows])
    kind = np.concatenate([q[1] for q in rows])
    purpose = np.concatenate([q[2] for q in rows])
    vfrom = np.concatenate([q[3] for q in rows]).astype(np.int64)
    vto = np.concatenate([q[4] for q in rows]).astype(np.int64)
    issue = vfrom - rng.integers(0, 15, len(idx))
    keep = issue <= TO
    idx, kind, purpose, vfrom, vto, issue = idx[keep], kind[keep], purpose[keep], vfrom[keep], vto[keep], issue[keep]
    dup = rng.random(len(idx)) < r["duplicate"]
    allr = np.concatenate([np.arange(len(idx)), np.flatnonzero(dup)])
    is_dup = np.concatenate([np.zeros(len(idx), bool), np.ones(int(dup.sum()), bool)])
    idx, kind, purpose, vfrom, vto, issue = (v[allr] for v in (idx, kind, purpose, vfrom, vto, issue))
    m = len(idx)
    names = spelled_names(rng, pools, a, "latin", r)
    given, surname = names["given"][idx], names["surname"][idx]
    given, surname, sw_hit = _swap(rng, pools, a["name_group"][idx], given, surname, r["swap_order"])
    given, surname, typo_hit = _typo_names(rng, given, surname, r["typo"])
    dob, dsw, dpart, _ = nz.dob_strings(rng, a["dob"][idx], r["dob_swap"], r["dob_partial"],
                                        before=np.minimum(issue, vfrom))
    docs, dcountry, _ = passport_at(a, idx, pid[idx], np.maximum(issue, a["dob"][idx]), period.home)
    old = rng.random(m) < r["address_outdated"]
    pick = lambda k: np.where(old, addr_old[k][idx], addr[k][idx]).astype(str)  # noqa: E731
    df = nz.frame({
        "permit_number": np.zeros(m, np.int64),
        "permit_kind": kind.astype(str),
        "purpose": purpose.astype(str),
        "issue_date": nz.days_to_date(issue),
        "valid_from": nz.days_to_date(vfrom),
        "valid_to": nz.days_to_date(np.where(vto < NEVER, vto, 0)),
        **_person_fields(a, idx, given, surname, dob, a["cit"][idx]),
        "document_number": nz.blank(rng, docs.to_numpy(), r["missing_document_number"]),
        "document_country": dcountry,
        "address": pick("address"),
        "locality": pick("locality"),
        "postcode": pick("postcode"),
    })
    df = df.with_columns(valid_to=pl.when(pl.Series(vto < NEVER)).then(pl.col("valid_to"))).with_columns(
        _pid=pl.Series(pid[idx]), _dup=pl.Series(is_dup),
        _noise=_noise_col({"duplicate": is_dup, "swap_order": sw_hit, "typo": typo_hit,
                           "nickname": names["nickname"][idx], "middle_name_dropped": names["middle_dropped"][idx],
                           "dob_swap": dsw, "dob_partial": dpart, "address_outdated": old}, m),
    )
    return df


def asylum_register(rng: np.random.Generator, a: dict[str, np.ndarray], pid: np.ndarray,
                    scen: dict[str, Any], period: Period, pools: NamePools) -> pl.DataFrame:
    """One case per asylum seeker who applied by observed_until; decision if taken by then."""
    r = scen["noise"]["asylum_register"]
    TO = period.observed_until
    sel = np.flatnonzero((a["profile"] == P["asylum_seeker"]) & (a["app_date"] <= TO))
    dup = rng.random(len(sel)) < r["duplicate"]
    idx = np.concatenate([sel, sel[dup]])
    is_dup = np.concatenate([np.zeros(len(sel), bool), np.ones(int(dup.sum()), bool)])
    m = len(idx)
    if m == 0:
        return pl.DataFrame()
    names = spelled_names(rng, pools, a, "latin", r)
    given, surname = names["given"][idx], names["surname"][idx]
    given, surname, sw_hit = _swap(rng, pools, None, given, surname, r["swap_order"])
    given, surname, typo_hit = _typo_names(rng, given, surname, r["typo"])
    app = a["app_date"][idx] + np.where(is_dup, rng.integers(0, 30, m), 0)
    dob, dsw, dpart, dj1 = nz.dob_strings(rng, a["dob"][idx], r["dob_swap"], r["dob_partial"], r["dob_jan1"],
                                          before=app)
    decided = a["decision_date"][idx] <= TO
    dec = np.array(DECISIONS, dtype=object)[a["decision"][idx]]
    docs, _, _ = passport_at(a, idx, pid[idx], a["app_date"][idx], period.home)
    df = nz.frame({
        "case_number": np.zeros(m, np.int64),
        **_person_fields(a, idx, given, surname, dob, a["cit"][idx]),
        "document_number": nz.blank(rng, docs.to_numpy(), r["missing_document_number"]),
        "application_date": nz.days_to_date(app),
        "decision": np.where(decided, dec, "PENDING").astype(str),
        "decision_date": nz.days_to_date(np.where(decided, a["decision_date"][idx], 0)),
    })
    df = df.with_columns(decision_date=pl.when(pl.Series(decided)).then(pl.col("decision_date"))).with_columns(
        _pid=pl.Series(pid[idx]), _dup=pl.Series(is_dup),
        _noise=_noise_col({"duplicate": is_dup, "swap_order": sw_hit, "typo": typo_hit,
                           "middle_name_dropped": names["middle_dropped"][idx],
                           "dob_swap": dsw, "dob_partial": dpart, "dob_jan1": dj1}, m),
    )
    return df
