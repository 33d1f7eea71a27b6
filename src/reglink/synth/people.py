"""Who lives in the simulated world: profiles, demography, migration transitions, permits plans.

Each profile fills a slice of person arrays (struct of numpy arrays). A person's life in the
period is `home0` (at home at the start or not) followed by up to three migration transitions
`t[:, k]` (days; NEVER if none); the location flips at each one. Trips (short stays abroad or
visits) are added later by `movements`. Children and babies copy a parent's movements.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from reglink.synth.names import NamePools, assign_names
from reglink.synth.timeline import NEVER, YEAR, Period, choice_map, lognormal, uniform_days

PROFILES: tuple[str, ...] = (
    "native_resident", "native_abroad", "immigrant_settled", "immigrant_new", "student",
    "seasonal_worker", "short_term_worker", "tourist", "commuter", "asylum_seeker",
    "permit_no_show", "birth", "child",
)
P = {name: i for i, name in enumerate(PROFILES)}
DECISIONS = ("PENDING", "REFUGEE", "SUBSIDIARY", "REJECTED", "WITHDRAWN")


def profile_counts(scen: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    """Exact counts per profile for a chunk of n persons (largest-remainder rounding)."""
    shares = np.array([float(scen["profiles"].get(p, 0)) for p in PROFILES])
    shares = shares / shares.sum()
    raw = shares * n
    counts = np.floor(raw).astype(int)
    rest = n - counts.sum()
    if rest:
        order = np.argsort(-(raw - counts) + rng.random(len(raw)) * 1e-9)
        counts[order[:rest]] += 1
    return counts


def _empty(n: int) -> dict[str, np.ndarray]:
    return {
        "profile": np.zeros(n, np.int8),
        "sex": np.full(n, "M", dtype="<U1"),
        "dob": np.zeros(n, np.int64),
        "cob": np.full(n, "", dtype="<U3"),
        "cit": np.full(n, "", dtype="<U3"),
        "res_abroad": np.full(n, "", dtype="<U3"),
        "home0": np.zeros(n, bool),
        "t": np.full((n, 3), NEVER, np.int64),
        "nat_date": np.full(n, NEVER, np.int64),
        "arrival0": np.full(n, NEVER, np.int64),  # arrival before the start (settled immigrants)
        "left0": np.full(n, NEVER, np.int64),  # emigration before the start (diaspora)
        "stale": np.zeros(n, bool),  # still registered though living abroad
        "death": np.full(n, NEVER, np.int64),
        "parent": np.full(n, -1, np.int64),
        "rate_home": np.zeros(n), "med_home": np.ones(n), "sig_home": np.full(n, 0.5),
        "rate_abroad": np.zeros(n), "med_abroad": np.ones(n), "sig_abroad": np.full(n, 0.5),
        "to_origin": np.zeros(n),
        "entry_reason": np.full(n, "OTHER", dtype="<U11"),  # reason declared at the migration entry
        "exit_reason": np.full(n, "OTHER", dtype="<U11"),
        "permit_kind": np.full(n, "", dtype="<U9"),  # the first permit's kind for arrivals
        "study_years": np.zeros(n),
        "stay_on": np.zeros(n, bool),
        "weekly": np.zeros(n, bool),
        "work_from": np.full(n, NEVER, np.int64), "work_to": np.full(n, NEVER, np.int64),
        "app_date": np.full(n, NEVER, np.int64),
        "decision": np.zeros(n, np.int8),
        "decision_date": np.full(n, NEVER, np.int64),
        "occupation": np.full(n, "", dtype="<U4"),
    }


def _age_dob(rng: np.random.Generator, period: Period, lo: float, hi: float, n: int) -> np.ndarray:
    age = lo + (hi - lo) * rng.random(n)
    return (period.start - age * YEAR).astype(np.int64)


def _sex(rng: np.random.Generator, n: int, female: float = 0.5) -> np.ndarray:
    u = rng.random(n)
    return np.where(u < 0.0005, "X", np.where(u < 0.0005 + female, "F", "M"))


def _exp_days(rng: np.random.Generator, rate_per_year: float, n: int) -> np.ndarray:
    if rate_per_year <= 0:
        return np.full(n, NEVER, np.int64)
    return (rng.exponential(YEAR / rate_per_year, n)).astype(np.int64)


class _Chunk:
    """The persons of one chunk being simulated: their arrays, each profile's slice, and the
    helpers every profile's simulation uses."""

    def __init__(self, rng: np.random.Generator, scen: dict[str, Any], period: Period,
                 a: dict[str, np.ndarray], sl: dict[str, slice], counts: np.ndarray) -> None:
        self.rng, self.scen, self.period, self.a, self.sl, self.counts = rng, scen, period, a, sl, counts

    def put(self, p: str, key: str, value: Any) -> None:
        self.a[key][self.sl[p]] = value

    def puts(self, p: str, **values: Any) -> None:
        for key, value in values.items():
            self.a[key][self.sl[p]] = value

    def spells(self, p: str, side: str, rate: float, length: dict[str, float]) -> None:
        """Trips (side "home": short stays abroad of someone living here) or visits (side
        "abroad": stays here of someone living abroad): rate per year, lognormal length."""
        self.puts(p, **{f"rate_{side}": rate, f"med_{side}": length["median"],
                        f"sig_{side}": length["sigma"]})

    def foreigner(self, p: str, lo: float, hi: float, origins: str, female: float = 0.5
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Sex, age lo..hi at the start, and one country drawn from `origins` as country of
        birth, citizenship and residence abroad (in this order: the random streams depend on it)."""
        rng, k = self.rng, self.counts[P[p]]
        sex, dob = _sex(rng, k, female=female), _age_dob(rng, self.period, lo, hi, k)
        cob = choice_map(rng, self.scen["countries"][origins], k)
        self.puts(p, sex=sex, dob=dob, cob=cob, cit=cob, res_abroad=cob)
        return dob, cob


def _native_resident(c: _Chunk) -> None:
    """The native residents."""
    rng, a, period = c.rng, c.a, c.period
    B, C = c.scen["behaviour"], c.scen["countries"]
    home, T0 = c.period.home, c.period.start
    counts, sl = c.counts, c.sl
    s, k = sl["native_resident"], counts[P["native_resident"]]
    b = B["native_resident"]
    c.put("native_resident", "sex", _sex(rng, k))
    c.put("native_resident", "dob", _age_dob(rng, period, 18, 88, k))
    c.put("native_resident", "cob", home); c.put("native_resident", "cit", home)
    c.put("native_resident", "home0", True)
    c.put("native_resident", "res_abroad", choice_map(rng, C["emigration_destinations"], k))
    t1 = T0 + _exp_days(rng, b["emigration_rate"], k)
    t2 = t1 + np.maximum(30, lognormal(rng, b["years_abroad"], k) * YEAR).astype(np.int64)
    t2 = np.where(rng.random(k) < b["return_probability"], t2, NEVER)
    a["t"][s, 0], a["t"][s, 1] = t1, t2
    c.spells("native_resident", "home", b["trips_per_year"], b["trip_days"])
    c.spells("native_resident", "abroad", b["visits_per_year_abroad"], b["visit_days"])
    c.put("native_resident", "exit_reason", np.where(rng.random(k) < 0.4, "SETTLE", "OTHER"))
    c.put("native_resident", "entry_reason", "RETURN_HOME")


def _native_abroad(c: _Chunk) -> None:
    """The diaspora."""
    rng, a, period = c.rng, c.a, c.period
    B, C = c.scen["behaviour"], c.scen["countries"]
    home, T0 = c.period.home, c.period.start
    counts, sl = c.counts, c.sl
    s, k = sl["native_abroad"], counts[P["native_abroad"]]
    b = B["native_abroad"]
    c.put("native_abroad", "sex", _sex(rng, k))
    dob = _age_dob(rng, period, 20, 70, k)
    c.put("native_abroad", "dob", dob)
    c.put("native_abroad", "cob", home); c.put("native_abroad", "cit", home)
    c.put("native_abroad", "res_abroad", choice_map(rng, C["emigration_destinations"], k))
    c.put("native_abroad", "left0", uniform_days(rng, np.maximum(dob + 18 * 365, T0 - 15 * 365), T0 - 30, k))
    c.put("native_abroad", "stale", rng.random(k) < b["registered_stale"])
    a["t"][s, 0] = T0 + _exp_days(rng, b["return_rate"], k)
    c.spells("native_abroad", "abroad", b["visits_per_year"], b["visit_days"])
    nb = B["native_resident"]
    c.spells("native_abroad", "home", nb["trips_per_year"], nb["trip_days"])
    c.put("native_abroad", "entry_reason", np.where(rng.random(k) < 0.6, "RETURN_HOME", "FAMILY"))


def _immigrant_settled(c: _Chunk) -> None:
    """The settled immigrants."""
    rng, a = c.rng, c.a
    B = c.scen["behaviour"]
    home, T0 = c.period.home, c.period.start
    counts, sl = c.counts, c.sl
    s, k = sl["immigrant_settled"], counts[P["immigrant_settled"]]
    b = B["immigrant_settled"]
    dob, cob = c.foreigner("immigrant_settled", 25, 80, "immigrant_origins")
    c.put("immigrant_settled", "home0", True)
    arr0 = uniform_days(rng, np.maximum(dob + 16 * 365, T0 - 30 * 365), T0 - 60, k)
    c.put("immigrant_settled", "arrival0", arr0)
    eligible = arr0 + 5 * 365
    nat_before = (rng.random(k) < b["naturalised_at_start"]) & (eligible < T0 - 30)
    nat = np.where(nat_before, uniform_days(rng, eligible, T0 - 30, k),
                   np.maximum(T0, eligible) + _exp_days(rng, b["naturalisation_rate"], k))
    c.put("immigrant_settled", "nat_date", nat)
    c.put("immigrant_settled", "cit", np.where(nat_before, home, cob))
    t1 = T0 + _exp_days(rng, b["emigration_rate"], k)
    t2 = t1 + np.maximum(30, lognormal(rng, b["years_abroad"], k) * YEAR).astype(np.int64)
    a["t"][s, 0] = t1
    a["t"][s, 1] = np.where(rng.random(k) < b["return_probability"], t2, NEVER)
    c.spells("immigrant_settled", "home", b["trips_per_year"], b["trip_days"])
    c.put("immigrant_settled", "to_origin", b["trip_to_origin"])
    c.spells("immigrant_settled", "abroad", 0.2, {"median": 21, "sigma": 0.6})
    c.put("immigrant_settled", "exit_reason", np.where(rng.random(k) < 0.3, "SETTLE", "OTHER"))
    c.put("immigrant_settled", "entry_reason", "RETURN_HOME")


def _immigrant_new(c: _Chunk) -> None:
    """The new immigrants."""
    rng, a = c.rng, c.a
    B = c.scen["behaviour"]
    T0, TE = c.period.start, c.period.end
    counts, sl = c.counts, c.sl
    s, k = sl["immigrant_new"], counts[P["immigrant_new"]]
    b = B["immigrant_new"]
    c.foreigner("immigrant_new", 20, 50, "immigrant_origins")
    t1 = uniform_days(rng, T0 + 1, TE - 60, k)
    stay = np.maximum(200, lognormal(rng, b["years_before_leaving"], k) * YEAR).astype(np.int64)
    a["t"][s, 0] = t1
    a["t"][s, 1] = np.where(rng.random(k) < b["leave_probability"], t1 + stay, NEVER)
    natd = t1 + int(b["naturalisation_after_years"] * 365) + uniform_days(rng, 0, 365, k)
    nat_ok = (rng.random(k) < b["naturalisation_probability"]) & (natd < a["t"][s, 1])
    c.put("immigrant_new", "nat_date", np.where(nat_ok, natd, NEVER))
    res = rng.random(k) < b["residence_permit_share"]
    c.put("immigrant_new", "permit_kind", np.where(res, "RESIDENCE", "WORK"))
    c.put("immigrant_new", "entry_reason", np.where(res, "SETTLE", "WORK"))
    c.spells("immigrant_new", "home", b["trips_per_year"], b["trip_days"])
    c.put("immigrant_new", "to_origin", 0.7)
    c.spells("immigrant_new", "abroad", 0.1, {"median": 14, "sigma": 0.6})
    c.put("immigrant_new", "exit_reason", np.where(rng.random(k) < 0.3, "RETURN_HOME", "OTHER"))
    c.put("immigrant_new", "occupation", rng.choice(["2512", "2211", "2221", "3112", "7411", "5120", "2411", "8322"], k))


def _student(c: _Chunk) -> None:
    """The students."""
    rng, a, period = c.rng, c.a, c.period
    B = c.scen["behaviour"]
    T0, span = c.period.start, c.period.end - c.period.start
    counts, sl = c.counts, c.sl
    s, k = sl["student"], counts[P["student"]]
    b = B["student"]
    c.foreigner("student", 18, 28, "student_origins")
    years = rng.choice(np.array(b["years"], float), k, p=np.array(b["years_weights"]) / np.sum(b["years_weights"]))
    # term starts: late February or mid July of a year in the period
    yr = rng.integers(0, max(1, span // 365), k)
    term = np.where(rng.random(k) < 0.7, 50, 190) + rng.integers(-12, 12, k)
    t1 = T0 + yr * 365 + term
    t2 = t1 + (years * 365).astype(np.int64) - rng.integers(0, 40, k)
    stay_on = rng.random(k) < b["stay_on_probability"]
    a["t"][s, 0] = t1
    a["t"][s, 1] = np.where(stay_on, NEVER, t2)
    c.put("student", "study_years", years); c.put("student", "stay_on", stay_on)
    c.put("student", "permit_kind", "STUDY"); c.put("student", "entry_reason", "STUDY")
    c.put("student", "exit_reason", np.where(rng.random(k) < 0.5, "RETURN_HOME", "OTHER"))
    c.spells("student", "home", 0.9, b["home_visit_days"])
    c.put("student", "to_origin", 0.9)


def _seasonal_worker(c: _Chunk) -> None:
    """The seasonal workers (movements: seasons)."""
    c.foreigner("seasonal_worker", 21, 50, "seasonal_origins", female=0.15)
    c.puts("seasonal_worker", occupation="6111", permit_kind="WORK")


def _short_term_worker(c: _Chunk) -> None:
    """The short-term workers."""
    rng, a = c.rng, c.a
    B = c.scen["behaviour"]
    T0, TE = c.period.start, c.period.end
    counts, sl = c.counts, c.sl
    s, k = sl["short_term_worker"], counts[P["short_term_worker"]]
    b = B["short_term_worker"]
    c.foreigner("short_term_worker", 20, 45, "short_term_origins")
    t1 = uniform_days(rng, T0 + 1, TE - b["stay_days"][1] - 30, k)
    a["t"][s, 0] = t1
    a["t"][s, 1] = t1 + uniform_days(rng, b["stay_days"][0], b["stay_days"][1], k)
    c.put("short_term_worker", "permit_kind", "WORK"); c.put("short_term_worker", "entry_reason", "WORK")
    c.put("short_term_worker", "exit_reason", "WORK")
    c.put("short_term_worker", "rate_home", 0.5); c.put("short_term_worker", "med_home", 10)
    c.put("short_term_worker", "occupation", rng.choice(["5131", "5120", "7112", "2221", "9112", "2512"], k))


def _tourist(c: _Chunk) -> None:
    """The tourists."""
    B = c.scen["behaviour"]
    c.foreigner("tourist", 18, 80, "tourist_origins")
    c.spells("tourist", "abroad", B["tourist"]["visits_per_year"], B["tourist"]["visit_days"])


def _commuter(c: _Chunk) -> None:
    """The commuters."""
    rng = c.rng
    B = c.scen["behaviour"]
    T0, TE = c.period.start, c.period.end
    counts, sl = c.counts, c.sl
    s, k = sl["commuter"], counts[P["commuter"]]
    b = B["commuter"]
    c.foreigner("commuter", 20, 60, "commuter_origins")
    wf = uniform_days(rng, T0 - 2 * 365, TE - 30, k)
    c.put("commuter", "work_from", np.maximum(wf, T0))
    c.put("commuter", "work_to", wf + uniform_days(rng, int(b["years"][0] * 365), int(b["years"][1] * 365), k))
    c.put("commuter", "weekly", rng.random(k) < b["weekly_share"])
    c.put("commuter", "occupation", rng.choice(["7411", "2512", "3313", "9329"], k))


def _asylum_seeker(c: _Chunk) -> None:
    """The asylum seekers."""
    rng, a = c.rng, c.a
    B = c.scen["behaviour"]
    T0, TE = c.period.start, c.period.end
    counts, sl = c.counts, c.sl
    s, k = sl["asylum_seeker"], counts[P["asylum_seeker"]]
    b = B["asylum_seeker"]
    c.foreigner("asylum_seeker", 16, 55, "asylum_origins", female=0.35)
    t1 = uniform_days(rng, T0 + 1, TE - 30, k)
    app = t1 + np.where(rng.random(k) < 0.2, 0, lognormal(rng, b["apply_days"], k).astype(np.int64))
    dec_d = app + np.maximum(30, lognormal(rng, b["decision_days"], k)).astype(np.int64)
    dec = choice_map(rng, b["decisions"], k)
    dcode = np.array([DECISIONS.index(x) for x in dec], dtype=np.int8) if k else np.zeros(0, np.int8)
    leaves = np.isin(dec, ["REJECTED", "WITHDRAWN"]) & (rng.random(k) < b["rejected_leave_probability"])
    a["t"][s, 0] = t1
    a["t"][s, 1] = np.where(leaves, dec_d + uniform_days(rng, 30, 240, k), NEVER)
    c.put("asylum_seeker", "app_date", app); c.put("asylum_seeker", "decision_date", dec_d)
    c.put("asylum_seeker", "decision", dcode)
    c.put("asylum_seeker", "entry_reason", np.where(rng.random(k) < b["travel_reason_asylum"], "ASYLUM", "HOLIDAY"))
    c.put("asylum_seeker", "permit_kind", np.where(np.isin(dec, ["REFUGEE", "SUBSIDIARY"]), "RESIDENCE", ""))


def _permit_no_show(c: _Chunk) -> None:
    """The permit no-shows."""
    rng, period = c.rng, c.period
    T0 = c.period.start
    counts, sl = c.counts, c.sl
    s, k = sl["permit_no_show"], counts[P["permit_no_show"]]
    c.foreigner("permit_no_show", 20, 45, "immigrant_origins")
    c.put("permit_no_show", "permit_kind", np.where(rng.random(k) < 0.5, "WORK", "RESIDENCE"))
    c.put("permit_no_show", "work_from", uniform_days(rng, T0, period.observed_until, k))


# every profile's simulation, in the order of the random streams
PROFILE_SIMULATIONS = (_native_resident, _native_abroad, _immigrant_settled, _immigrant_new, _student, _seasonal_worker, _short_term_worker, _tourist, _commuter, _asylum_seeker, _permit_no_show)


def make_persons(rng: np.random.Generator, scen: dict[str, Any], period: Period, n: int,
                 pools: NamePools) -> dict[str, np.ndarray]:
    """Simulate the persons of one chunk (profiles, dates, transitions)."""
    counts = profile_counts(scen, n, rng)
    a = _empty(n)
    T0, TE = period.start, period.end
    off = 0
    sl: dict[str, slice] = {}
    for p, size in zip(PROFILES, counts):
        sl[p] = slice(off, off + size)
        a["profile"][off:off + size] = P[p]
        off += size

    chunk = _Chunk(rng, scen, period, a, sl, counts)
    for simulate in PROFILE_SIMULATIONS:  # in this order: the random streams depend on it
        simulate(chunk)

    # --- mortality for adults ---------------------------------------------------------------------------------
    adult = a["profile"] < P["birth"]
    m = scen["behaviour"]["mortality"]
    age = (T0 - a["dob"]) / YEAR
    q = np.exp(m["a"] + m["b"] * age)
    death = T0 + rng.exponential(YEAR / np.maximum(q, 1e-9)).astype(np.int64)
    a["death"] = np.where(adult & (death < TE), death, NEVER)

    # the citizenship of the first passport: the birth country's for those naturalised before
    a["cit_orig"] = np.where((a["cit"] == period.home) & (a["cob"] != period.home) & (a["nat_date"] < NEVER),
                             a["cob"], a["cit"])
    _tidy_transitions(a, period)  # the parents' transitions end at their death
    _families(rng, a, sl, counts, period, scen)
    a.update(assign_names(rng, pools, a["cob"], a["sex"], a["parent"]))
    _tidy_transitions(a, period)
    return a


def _families(rng: np.random.Generator, a: dict[str, np.ndarray], sl: dict[str, slice],
              counts: np.ndarray, period: Period, scen: dict[str, Any]) -> None:
    """Babies born during the period and children at the start, attached to a parent."""
    T0 = period.start
    age = (T0 - a["dob"]) / YEAR
    prof = a["profile"]
    resident_like = np.isin(prof, [P["native_resident"], P["immigrant_settled"], P["immigrant_new"]])
    # children at the start: parents 25-55
    s, k = sl["child"], counts[P["child"]]
    cand = np.flatnonzero(resident_like & (age >= 25) & (age <= 55))
    if k and len(cand) == 0:
        cand = np.flatnonzero(prof < P["birth"])
    if k:
        par = cand[rng.integers(0, len(cand), k)]
        cage = rng.random(k) * np.minimum(15, age[par] - 18)
        _copy_parent(a, s, par)
        a["dob"][s] = (T0 - cage * YEAR).astype(np.int64)
        a["sex"][s] = _sex(rng, k)
        # born abroad if born before the parent arrived
        arrived = np.minimum(a["arrival0"][par], np.where(a["home0"][par], T0, a["t"][par, 0]))
        native_par = a["cob"][par] == period.home
        born_home = native_par | (a["dob"][s] >= arrived)
        a["cob"][s] = np.where(born_home, period.home, a["cob"][par])
        a["cit"][s] = np.where(born_home, period.home, a["cit"][par])
        a["cit_orig"][s] = np.where(born_home, period.home, a["cit_orig"][par])
        # born at home: citizens by birth, not naturalised with the parent
        a["nat_date"][s] = np.where(born_home, NEVER, a["nat_date"][par])
        a["arrival0"][s] = np.where(born_home, NEVER, a["arrival0"][par])
    # babies: mothers 20-42 at home at the start
    s, k = sl["birth"], counts[P["birth"]]
    cand = np.flatnonzero(np.isin(prof, [P["native_resident"], P["immigrant_settled"]])
                          & (a["sex"] == "F") & (age >= 20) & (age <= 42))
    if k and len(cand) == 0:
        cand = np.flatnonzero(np.isin(prof, [P["native_resident"], P["immigrant_settled"]]))
    if k and len(cand):
        par = cand[rng.integers(0, len(cand), k)]
        _copy_parent(a, s, par)
        last = np.minimum.reduce([np.full(k, period.observed_until), a["t"][par, 0] - 1, a["death"][par] - 1])
        a["dob"][s] = uniform_days(rng, T0, np.maximum(last, T0 + 1), k)
        a["sex"][s] = _sex(rng, k)
        a["cob"][s] = period.home
        a["cit"][s] = period.home
        a["cit_orig"][s] = period.home
        a["home0"][s] = True
        a["arrival0"][s] = NEVER
        a["nat_date"][s] = NEVER
    elif k:  # no possible mother in this chunk: make them children at the start of a native
        a["profile"][s] = P["native_resident"]


def _copy_parent(a: dict[str, np.ndarray], s: slice, par: np.ndarray) -> None:
    a["parent"][s] = par
    for key in ("cob", "cit", "cit_orig", "res_abroad", "home0", "nat_date", "arrival0", "left0", "stale",
                "entry_reason", "exit_reason", "permit_kind"):
        a[key][s] = a[key][par]
    a["t"][s] = a["t"][par]
    a["stale"][s] = False


def _tidy_transitions(a: dict[str, np.ndarray], period: Period) -> None:
    """Transitions strictly increasing, inside the person's life, NEVER after the first NEVER."""
    t = a["t"]
    start = np.maximum(period.start, a["dob"])
    a["life_start"] = start
    a["life_end"] = np.minimum(period.end, a["death"])
    # a baby's life starts on its birthday
    prev = start.copy()
    alive = np.ones(len(start), bool)
    for k in range(3):
        ok = alive & (t[:, k] > prev) & (t[:, k] < a["life_end"])
        t[:, k] = np.where(ok, t[:, k], NEVER)
        alive &= ok
        prev = np.where(ok, t[:, k], prev)
    # death and naturalisation only count if they fall in the simulated life
    a["death"] = np.where(a["death"] < period.end, a["death"], NEVER)
    a["nat_date"] = np.where(a["nat_date"] < a["life_end"], a["nat_date"], NEVER)
