"""True border crossings of the persons of one chunk.

Crossings come from four generators, all vectorised over persons:
- migration transitions (`people.t`): the location flips (emigration, arrival, return);
- trips: a renewal process inside each stay — short trips abroad from home, visits to the
  country from abroad — so trips never overlap and each stays inside its phase;
- commuters (daily or weekly crossings) and seasonal workers (one season a year);
- children and babies copy their parent's crossings from their own start.
Each crossing has an order key `ord = day * 4 + sub` so that same-day crossings keep the order
that alternates ENTRY/EXIT (an exit and return on one day: EXIT first).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reglink.schemas import TRAVEL_REASON
from reglink.synth.people import P
from reglink.synth.timeline import NEVER, YEAR, Period

ENTRY, EXIT = 0, 1
KIND = ("transition", "trip", "commute", "season", "family")
MODES = ("AIR", "SEA")
REASON = {r: i for i, r in enumerate(TRAVEL_REASON)}

# Crossing-level text columns are small integer codes (reason: index in TRAVEL_REASON, mode: in
# MODES, countries: in the chunk's `a["countries"]`); registers decode them with a polars gather,
# which is far cheaper than building millions of Python strings.


def _encode(book: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions of `values` in the (unsorted) code book `book`."""
    order = np.argsort(book)
    return order[np.searchsorted(book[order], values)]


def _mode(rng: np.random.Generator, n: int, sea: float = 0.03) -> np.ndarray:
    return (rng.random(n) < sea).astype(np.int8)


def _pick_idx(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    w = np.array([float(v) for v in options.values()])
    return np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right").clip(0, len(w) - 1)


def _pick(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    """Travel-reason codes drawn from {reason: weight}."""
    codes = np.array([REASON[k] for k in options], np.int8)
    return codes[_pick_idx(rng, options, n)]


def _renewal(rng: np.random.Generator, start: np.ndarray, end: np.ndarray, rate: np.ndarray,
             med: np.ndarray, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-overlapping trips inside [start, end): (phase index, first day, last day)."""
    length = (end - start).astype(float)
    active = (rate > 0) & (length > 2)
    expected = np.where(active, rate * length / YEAR, 0)
    cap = np.where(active, np.ceil(expected * 1.6 + 3), 0).astype(np.int64)
    ph = np.repeat(np.arange(len(start)), cap)
    if len(ph) == 0:
        return ph, ph.astype(np.int64), ph.astype(np.int64)
    mean_gap = YEAR / np.maximum(rate[ph], 1e-9)
    gaps = np.maximum(1, rng.exponential(mean_gap)).astype(np.int64)
    first = np.ones(len(ph), bool)
    first[1:] = ph[1:] != ph[:-1]
    # the first trip comes after a uniform wait (the process is already running at the start)
    gaps[first] = np.maximum(1, rng.random(int(first.sum())) * mean_gap[first]).astype(np.int64)
    durs = np.maximum(0, np.round(med[ph] * np.exp(sig[ph] * rng.standard_normal(len(ph))))).astype(np.int64)
    prevdur = np.concatenate([[0], durs[:-1]])
    prevdur[first] = 0
    x = gaps + prevdur
    cs = np.cumsum(x)
    grp_start = np.flatnonzero(first)
    offset = (cs[grp_start] - x[grp_start])
    offset_rep = np.repeat(offset, np.diff(np.append(grp_start, len(ph))))
    a = start[ph] + cs - offset_rep
    b = a + durs
    keep = (b < end[ph]) & (a > start[ph])
    return ph[keep], a[keep], b[keep]


@dataclass(frozen=True)
class _Codes:
    """The chunk's countries and reasons as small integer codes (the crossings' columns)."""

    destinations: dict[str, float]  # the scenario's trip destinations and their weights
    home: int  # the home country
    fallback: int  # a trip "home" from home goes here instead
    res: np.ndarray  # per person: country of residence abroad
    cob: np.ndarray  # per person: country of birth
    entry: np.ndarray  # per person: travel reason of a migration ENTRY
    exit: np.ndarray  # per person: travel reason of a migration EXIT
    dest_book: np.ndarray  # the trip destinations' codes


def _codes(a: dict[str, np.ndarray], scen: dict[str, Any], period: Period) -> _Codes:
    """Encode the chunk's countries (the book kept in `a["countries"]`) and reasons."""
    C = scen["countries"]
    fallback = next((c for c in C["trip_destinations"] if c != period.home), "AUS")
    book = np.unique(np.concatenate([a["cob"], a["res_abroad"], a["cit"], np.array(list(C["trip_destinations"])),
                                     np.array([period.home, fallback])]))
    a["countries"] = book.astype(object)
    codes = _Codes(
        destinations=C["trip_destinations"],
        home=int(_encode(book, np.array([period.home]))[0]),
        fallback=int(_encode(book, np.array([fallback]))[0]),
        res=_encode(book, a["res_abroad"]).astype(np.int16),
        cob=_encode(book, a["cob"]).astype(np.int16),
        entry=_encode(np.array(TRAVEL_REASON), a["entry_reason"]).astype(np.int8),
        exit=_encode(np.array(TRAVEL_REASON), a["exit_reason"]).astype(np.int8),
        dest_book=_encode(book, np.array(list(C["trip_destinations"]))).astype(np.int16))
    a["res_i"] = codes.res
    return codes


def make_crossings(rng: np.random.Generator, a: dict[str, np.ndarray], scen: dict[str, Any],
                   period: Period) -> dict[str, np.ndarray]:
    """All true crossings of the chunk, sorted by person and order, with `seq` from 1."""
    codes = _codes(a, scen, period)
    prof = a["profile"]
    copies = a["parent"] >= 0
    parts = _migrations(rng, a, codes, copies)
    travels = ~copies & ~np.isin(prof, [P["seasonal_worker"], P["commuter"], P["permit_no_show"]])
    away, back = _away_at_start(rng, a, codes, period, travels, parts)
    _trips(rng, a, codes, travels, np.where(away, back, a["life_start"]), parts)
    parts.extend(_commuters(rng, a, scen, period))
    parts.extend(_seasons(rng, a, scen, period))

    base = _concat(parts)
    kids = np.flatnonzero(copies)
    a["in0"][kids] = np.where(prof[kids] == P["birth"], True, a["in0"][a["parent"][kids]])
    fam = _family_copies(a, base)
    return _in_order(_concat([base, fam]) if fam is not None else base)


def _migrations(rng: np.random.Generator, a: dict[str, np.ndarray], codes: _Codes,
                copies: np.ndarray) -> list[dict[str, np.ndarray]]:
    """The crossings of the migration transitions (`a["t"]`), of persons other than copies."""
    home, res_i = codes.home, codes.res
    parts: list[dict[str, np.ndarray]] = []
    for k in range(3):
        t = a["t"][:, k]
        sel = np.flatnonzero((t < NEVER) & ~copies)
        if not len(sel):
            continue
        at_home_before = a["home0"][sel] ^ (k % 2 == 1)
        d = np.where(at_home_before, EXIT, ENTRY).astype(np.int8)
        declared = np.where(d == EXIT, home,
                            np.where(rng.random(len(sel)) < 0.5, res_i[sel], home)).astype(np.int16)
        parts.append({
            "idx": sel, "day": t[sel], "sub": np.zeros(len(sel), np.int64), "dir": d,
            "reason": np.where(d == ENTRY, codes.entry[sel], codes.exit[sel]).astype(np.int8),
            "other": res_i[sel], "declared": declared,
            "mode": _mode(rng, len(sel)), "kind": np.zeros(len(sel), np.int8),
        })
    return parts


def _away_at_start(rng: np.random.Generator, a: dict[str, np.ndarray], codes: _Codes,
                   period: Period, travels: np.ndarray, parts: list[dict[str, np.ndarray]]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Away from their base on the first day.

    The data start on a day when some residents are on a trip abroad and some visitors are in
    the country: with the trip process in its steady state, the share away is rate x mean
    duration / 365. Their first crossing ends that trip (a resident's ENTRY, a visitor's EXIT),
    so where a person is at the start (`in0`) is not always what their residence status says.
    Those crossings are added to `parts`; (who is away, the day they come back)."""
    prof, home0, n = a["profile"], a["home0"], len(a["profile"])
    home, res_i = codes.home, codes.res
    rate = np.where(home0, a["rate_home"], a["rate_abroad"])
    med = np.where(home0, a["med_home"], a["med_abroad"])
    sig = np.where(home0, a["sig_home"], a["sig_abroad"])
    mean = med * np.exp(sig ** 2 / 2)
    p_away = np.clip(rate * mean / YEAR, 0, 0.5)
    dur = np.maximum(1, med * np.exp(sig * rng.standard_normal(n)))
    back = period.start + 1 + np.floor(rng.random(n) * dur).astype(np.int64)
    away = (travels & (a["life_start"] == period.start) & (rng.random(n) < p_away)
            & (back < a["t"][:, 0]) & (back < a["life_end"]))
    a["in0"] = home0 ^ away
    sel = np.flatnonzero(away)
    if len(sel):
        dest = codes.dest_book[_pick_idx(rng, codes.destinations, len(sel))]
        dest = np.where(dest == home, codes.fallback, dest)
        parts.append({
            "idx": sel, "day": back[sel], "sub": np.ones(len(sel), np.int64),
            "dir": np.where(home0[sel], ENTRY, EXIT).astype(np.int8),
            "reason": np.where(prof[sel] == P["tourist"], REASON["HOLIDAY"],
                               np.where(home0[sel], REASON["HOLIDAY"], REASON["FAMILY"])).astype(np.int8),
            "other": np.where(home0[sel], dest, res_i[sel]).astype(np.int16),
            "declared": np.where(home0[sel], home, res_i[sel]).astype(np.int16),
            "mode": _mode(rng, len(sel)), "kind": np.ones(len(sel), np.int8),
        })
    return away, back


def _trips(rng: np.random.Generator, a: dict[str, np.ndarray], codes: _Codes,
           travels: np.ndarray, first_start: np.ndarray, parts: list[dict[str, np.ndarray]]) -> None:
    """Trips (and visits) inside each phase of a person's life between transitions, a pair of
    crossings each, added to `parts`; the first phase starts at `first_start`."""
    prof, n = a["profile"], len(a["profile"])
    home, res_i, cob_i = codes.home, codes.res, codes.cob
    bounds = [first_start] + [a["t"][:, k] for k in range(3)]
    for k in range(4):
        st = bounds[k]
        en = a["t"][:, k] if k < 3 else np.full(n, NEVER)
        en = np.minimum(np.where(en >= NEVER, a["life_end"], en), a["life_end"])
        sel = np.flatnonzero(travels & (st < NEVER) & (st < en))
        if not len(sel):
            continue
        at_home = a["home0"][sel] ^ (k % 2 == 1)
        rate = np.where(at_home, a["rate_home"][sel], a["rate_abroad"][sel])
        med = np.where(at_home, a["med_home"][sel], a["med_abroad"][sel])
        sig = np.where(at_home, a["sig_home"][sel], a["sig_abroad"][sel])
        ph, d1, d2 = _renewal(rng, st[sel], en[sel], rate, med, sig)
        if not len(ph):
            continue
        who = sel[ph]
        h = at_home[ph]
        m = len(who)
        dest = codes.dest_book[_pick_idx(rng, codes.destinations, m)]
        dest = np.where(rng.random(m) < a["to_origin"][who], cob_i[who], dest)
        dest = np.where(dest == home, codes.fallback, dest)
        other = np.where(h, dest, res_i[who]).astype(np.int16)
        tourist = prof[who] == P["tourist"]
        reason = np.where(h, _pick(rng, {"HOLIDAY": .7, "BUSINESS": .15, "FAMILY": .1, "HEALTH": .02, "OTHER": .03}, m),
                          np.where(tourist, _pick(rng, {"HOLIDAY": .8, "BUSINESS": .12, "FAMILY": .08}, m),
                                   _pick(rng, {"FAMILY": .6, "HOLIDAY": .4}, m)))
        reason = np.where(prof[who] == P["student"], REASON["HOLIDAY"], reason).astype(np.int8)
        declared = np.where(h, home, res_i[who]).astype(np.int16)
        mode = _mode(rng, m)
        first_dir = np.where(h, EXIT, ENTRY).astype(np.int8)
        for day_, sub, dr in ((d1, 1, first_dir), (d2, 2, 1 - first_dir)):
            parts.append({"idx": who, "day": day_, "sub": np.full(m, sub, np.int64), "dir": dr.astype(np.int8),
                          "reason": reason, "other": other, "declared": declared, "mode": mode,
                          "kind": np.ones(m, np.int8)})


def _in_order(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The crossings sorted by person, day and same-day order, numbered (`seq`) from 1 per person."""
    order = np.lexsort((out["day"] * 4 + out["sub"], out["idx"]))
    out = {k: v[order] for k, v in out.items()}
    first = np.ones(len(out["idx"]), bool)
    first[1:] = out["idx"][1:] != out["idx"][:-1]
    pos = np.arange(len(first))
    start_pos = np.maximum.accumulate(np.where(first, pos, 0))
    out["seq"] = (pos - start_pos + 1).astype(np.int32)
    return out


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = ["idx", "day", "sub", "dir", "reason", "other", "declared", "mode", "kind"]
    if not parts:
        return {"idx": np.zeros(0, np.int64), "day": np.zeros(0, np.int64), "sub": np.zeros(0, np.int64),
                "dir": np.zeros(0, np.int8), "reason": np.zeros(0, np.int8), "other": np.zeros(0, np.int16),
                "declared": np.zeros(0, np.int16), "mode": np.zeros(0, np.int8), "kind": np.zeros(0, np.int8)}
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in keys}


def _commuters(rng: np.random.Generator, a: dict[str, np.ndarray], scen: dict[str, Any],
               period: Period) -> list[dict[str, np.ndarray]]:
    b = scen["behaviour"]["commuter"]
    sel = np.flatnonzero(a["profile"] == P["commuter"])
    if not len(sel):
        return []
    wf = np.maximum(a["work_from"][sel], a["life_start"][sel] + 1)
    wt = np.minimum(a["work_to"][sel], a["life_end"][sel] - 5)
    lens = np.maximum(wt - wf, 0)
    who = np.repeat(sel, lens)
    d = np.repeat(wf, lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens))
    weekday = (d + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekly = a["weekly"][who]
    keep = np.where(weekly, weekday == 0, weekday < 5) & (rng.random(len(d)) >= b["skip_day_probability"])
    who, d, weekly = who[keep], d[keep], weekly[keep]
    m = len(who)
    out_day = np.where(weekly, d + 4, d)  # weekly commuters stay Monday to Friday
    sub_in = np.where(weekly, 0, 1)
    sub_out = np.where(weekly, 0, 2)
    mode = np.where(weekly, 0, 1).astype(np.int8)  # weekly by air, daily by sea (ferry)
    common = {"reason": np.full(m, REASON["WORK"], np.int8), "other": a["res_i"][who],
              "declared": a["res_i"][who], "mode": mode, "kind": np.full(m, 2, np.int8)}
    return [
        {"idx": who, "day": d, "sub": sub_in.astype(np.int64), "dir": np.full(m, ENTRY, np.int8), **common},
        {"idx": who, "day": out_day, "sub": sub_out.astype(np.int64), "dir": np.full(m, EXIT, np.int8), **common},
    ]


def _seasons(rng: np.random.Generator, a: dict[str, np.ndarray], scen: dict[str, Any],
             period: Period) -> list[dict[str, np.ndarray]]:
    b = scen["behaviour"]["seasonal_worker"]
    sel = np.flatnonzero(a["profile"] == P["seasonal_worker"])
    if not len(sel):
        return []
    n_years = int(np.ceil((period.end - period.start) / YEAR)) + 2
    who = np.repeat(sel, n_years)
    y = np.tile(np.arange(n_years) - 1, len(sel))  # from the season that began before the data
    s = period.start + (y * YEAR).astype(np.int64) + rng.integers(-60, 0, len(who)) + 300
    e = s + rng.integers(b["season_days"][0], b["season_days"][1] + 1, len(who))
    keep = ((e > a["life_start"][who]) & (e < a["life_end"][who])
            & (rng.random(len(who)) >= b["skip_season_probability"]))
    who, s, e = who[keep], s[keep], e[keep]
    running = s <= a["life_start"][who]  # in the country when the data start: only the exit
    a["in0"][who[running]] = True
    m = len(who)
    common = {"reason": np.full(m, REASON["WORK"], np.int8), "other": a["res_i"][who],
              "declared": a["res_i"][who], "mode": _mode(rng, m), "kind": np.full(m, 3, np.int8)}
    entries = {k: v[~running] for k, v in common.items()}
    return [
        {"idx": who[~running], "day": s[~running], "sub": np.zeros(int((~running).sum()), np.int64),
         "dir": np.full(int((~running).sum()), ENTRY, np.int8), **entries},
        {"idx": who, "day": e, "sub": np.zeros(m, np.int64), "dir": np.full(m, EXIT, np.int8), **common},
    ]


def _family_copies(a: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """Children travel with their parent: the parent's crossings from the child's start, dropping
    any leading crossing that does not fit where the child is at its start."""
    kids = np.flatnonzero(a["parent"] >= 0)
    if not len(kids) or not len(base["idx"]):
        return None
    order = np.lexsort((base["day"] * 4 + base["sub"], base["idx"]))
    b = {k: v[order] for k, v in base.items()}
    n = len(a["profile"])
    cnt = np.bincount(b["idx"], minlength=n)
    starts = np.cumsum(cnt) - cnt
    par = a["parent"][kids]
    c = cnt[par]
    total = int(c.sum())
    if total == 0:
        return None
    kid_rep = np.repeat(kids, c)
    within = np.arange(total) - np.repeat(np.cumsum(c) - c, c)
    rows = np.repeat(starts[par], c) + within
    out = {k: v[rows] for k, v in b.items()}
    out["idx"] = kid_rep
    out["kind"] = np.full(total, 4, np.int8)
    keep = out["day"] > a["life_start"][kid_rep]
    out = {k: v[keep] for k, v in out.items()}
    kid_rep = out["idx"]
    expected = np.where(a["in0"][kid_rep], EXIT, ENTRY)
    ok = (out["dir"] == expected).astype(np.int64)
    first = np.ones(len(kid_rep), bool)
    first[1:] = kid_rep[1:] != kid_rep[:-1]
    cs = np.cumsum(ok)
    grp = np.flatnonzero(first)
    before = np.repeat(cs[grp] - ok[grp], np.diff(np.append(grp, len(kid_rep))))
    keep = (cs - before) > 0
    return {k: v[keep] for k, v in out.items()}
