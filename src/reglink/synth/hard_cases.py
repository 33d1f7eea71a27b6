"""People that are hard to tell apart, as in real registers (docs/synthetic.md "Hard cases").

Applied to each chunk of persons after `make_persons`, with a random stream of its own, so the
rest of the world is drawn exactly as without them:

- namesakes: an adult takes the given names and surname of another person of the same sex,
  country of birth and year of birth (two JOHN SMITHs born in 1970 — different complete dates
  of birth, each on their own passport);
- twins: a child becomes the twin of another child: same parent, surname, date of birth and
  travels, a different given name;
- juniors: a child named after the parent of the same sex (JOHN SMITH Jr.); and adult juniors:
  a native adult with the full name of an older native of the same sex (a grown-up son named
  after his father; they need not be linked as parent and child in the world).

Every person keeps their own passport and register numbers. `hard_case` (truth/persons) says
which kind each person is ("" for none).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from reglink.synth.names import NamePools
from reglink.synth.people import P, _tidy_transitions
from reglink.synth.timeline import YEAR, Period

DEFAULTS = {"namesake": 0.02, "twin": 0.015, "junior": 0.03, "adult_junior": 0.005}
# what a twin shares with the other twin (besides date of birth, surname and parent)
TWIN_KEYS = ("cob", "cit", "cit_orig", "res_abroad", "home0", "nat_date", "arrival0", "left0",
             "stale", "entry_reason", "exit_reason", "permit_kind", "name_group", "parent",
             "profile")


def _pick_in_group(rng: np.random.Generator, key: np.ndarray, who: np.ndarray,
                   pool: np.ndarray) -> np.ndarray:
    """For each index in `who`, another index of `pool` with the same `key` (-1 if none)."""
    if len(who) == 0 or len(pool) == 0:
        return np.full(len(who), -1, np.int64)
    order = pool[np.argsort(key[pool], kind="stable")]
    sk = key[order]
    lo = np.searchsorted(sk, key[who], side="left")
    hi = np.searchsorted(sk, key[who], side="right")
    size = hi - lo
    pos = lo + (rng.random(len(who)) * np.maximum(size, 1)).astype(np.int64)
    pos = np.minimum(pos, len(order) - 1)
    pick = order[pos]
    # picked itself: take the next member of the group (wrapping)
    same = pick == who
    nxt = lo + (pos - lo + 1) % np.maximum(size, 1)
    pick = np.where(same, order[np.minimum(nxt, len(order) - 1)], pick)
    ok = (size >= 2) & (pick != who)
    return np.where(ok, pick, -1)


def _other_given(rng: np.random.Generator, pools: NamePools, a: dict[str, np.ndarray],
                 j: np.ndarray, avoid: np.ndarray) -> np.ndarray:
    """A first given name for persons j (their sex and name group) different from `avoid`."""
    out = np.zeros(len(j), np.int32)
    for k, (jj, av) in enumerate(zip(j, avoid)):
        g = pools.groups[int(a["name_group"][jj])]
        pool = pools.female[g] if a["sex"][jj] == "F" else pools.male[g]
        pick = pool[int(rng.random() * len(pool))]
        if pick == av and len(pool) > 1:
            pick = pool[(int(np.flatnonzero(pool == pick)[0]) + 1) % len(pool)]
        out[k] = pick
    return out


def apply_hard_cases(rng: np.random.Generator, a: dict[str, np.ndarray], scen: dict[str, Any],
                     period: Period, pools: NamePools) -> None:
    """Turn some persons of the chunk into namesakes, twins and juniors (in place)."""
    rates = {**DEFAULTS, **(scen.get("hard_cases") or {})}
    n = len(a["dob"])
    label = np.full(n, "", dtype="<U12")
    a["hard_case"] = label
    if n < 2:
        return
    prof = a["profile"]
    kids = np.isin(prof, [P["child"], P["birth"]]) & (a["parent"] >= 0)
    adults = ~np.isin(prof, [P["child"], P["birth"]])
    u = rng.random((4, n))

    # adult juniors: a native adult takes the full name of a native 20-40 years older
    native = np.flatnonzero(adults & (a["cob"] == period.home) & (label == ""))
    age = (period.start - a["dob"]) / YEAR
    cand = native[(u[2, native] < rates["adult_junior"]) & (age[native] >= 18) & (age[native] <= 50)]
    if len(cand):
        for sex in np.unique(a["sex"][cand]):
            js = cand[a["sex"][cand] == sex]
            olders = native[a["sex"][native] == sex]
            olders = olders[np.argsort(age[olders])]
            oa = age[olders]
            lo = np.searchsorted(oa, age[js] + 20)
            hi = np.searchsorted(oa, age[js] + 40)
            ok = hi > lo
            pos = lo + (rng.random(len(js)) * np.maximum(hi - lo, 1)).astype(np.int64)
            js, senior = js[ok], olders[np.minimum(pos, len(olders) - 1)][ok]
            for key in ("given1", "given2", "surname_id", "name_group"):
                a[key][js] = a[key][senior]
            label[js] = "junior"
            label[senior] = np.where(label[senior] == "", "senior", label[senior])

    # namesakes: an adult takes the name of another adult of the same sex, country of birth
    # and birth year
    year = a["dob"].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    key = np.char.add(np.char.add(a["cob"].astype(str), a["sex"].astype(str)), year.astype(str))
    pool = np.flatnonzero(adults)
    who = pool[(u[3, pool] < rates["namesake"]) & (label[pool] == "")]
    other = _pick_in_group(rng, key, who, pool)
    ok = other >= 0
    who, other = who[ok], other[ok]
    for k in ("given1", "given2", "surname_id", "name_group"):
        a[k][who] = a[k][other]
    label[who] = "namesake"
    label[other] = np.where(label[other] == "", "namesake", label[other])
    # children carry their parent's surname (and name group), whatever changed above
    kid_idx = np.flatnonzero(kids)
    a["surname_id"][kid_idx] = a["surname_id"][a["parent"][kid_idx]]
    a["name_group"][kid_idx] = a["name_group"][a["parent"][kid_idx]]

    # twins: the second-born copies the first-born's birth, family and travels
    kid_idx = np.flatnonzero(kids)
    twin_j = kid_idx[u[0, kid_idx] < rates["twin"]]
    first = np.setdiff1d(kid_idx, twin_j)
    if len(twin_j) and len(first):
        twin_i = first[(rng.random(len(twin_j)) * len(first)).astype(np.int64)]
        for key in TWIN_KEYS:
            a[key][twin_j] = a[key][twin_i]
        a["t"][twin_j] = a["t"][twin_i]
        a["dob"][twin_j] = a["dob"][twin_i]
        a["death"][twin_j] = a["death"][twin_i]
        a["surname_id"][twin_j] = a["surname_id"][twin_i]
        a["given1"][twin_j] = _other_given(rng, pools, a, twin_j, a["given1"][twin_i])
        a["given2"][twin_j] = -1
        label[twin_j] = "twin"
        label[twin_i] = np.where(label[twin_i] == "", "twin", label[twin_i])

    # juniors: a child named after the parent of the same sex
    par = np.maximum(a["parent"], 0)
    jun = kids & (label == "") & (u[1] < rates["junior"]) & (a["sex"] == a["sex"][par])
    jj = np.flatnonzero(jun)
    a["given1"][jj] = a["given1"][par[jj]]
    a["given2"][jj] = a["given2"][par[jj]]
    a["surname_id"][jj] = a["surname_id"][par[jj]]
    label[jj] = "junior"
    label[par[jj]] = np.where(label[par[jj]] == "", "senior", label[par[jj]])

    _tidy_transitions(a, period)
