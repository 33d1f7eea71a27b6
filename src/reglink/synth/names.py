"""Name pools and the way each register spells a name.

Every name in synthetic/names.yaml has the person's own form (native script or Latin with
diacritics), a passport (MRZ) romanisation and, for many, other romanisations. A person holds
name ids; each register turns an id into text its own way (passport form, diacritics kept or
dropped, another transliteration, the original script). Spelling is done on whole arrays by
indexing object arrays, so it costs the same for a million persons as for a thousand.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import numpy as np
from unidecode import unidecode

from reglink.synth.scenario import data_file, read_yaml


def _is_latin(text: str) -> bool:
    for ch in text:
        if ch.isalpha() and "LATIN" not in unicodedata.name(ch, ""):
            return False
    return True


def _mrz(text: str) -> str:
    """Passport machine-readable-zone style: upper-case ASCII letters and spaces."""
    t = unidecode(text).upper().replace("-", " ").replace("'", "").replace(".", "")
    return " ".join(t.split())


@dataclass
class NamePools:
    """All names flattened to ids, with per-id spellings as object arrays."""

    native: np.ndarray  # own form (may be non-Latin / with diacritics)
    passport: np.ndarray  # MRZ form, upper-case ASCII
    latin: np.ndarray  # default Latin form, diacritics kept
    ascii: np.ndarray  # Latin form with diacritics dropped
    alts: np.ndarray  # (n_ids, K) other Latin romanisations, padded with `latin`
    n_alts: np.ndarray  # how many real alternatives each id has
    nickname: np.ndarray  # a nickname or "" (first of the list)
    groups: list[str]
    male: dict[str, np.ndarray] = field(default_factory=dict)
    female: dict[str, np.ndarray] = field(default_factory=dict)
    surname: dict[str, np.ndarray] = field(default_factory=dict)
    middle_rate: dict[str, float] = field(default_factory=dict)
    surname_first: dict[str, bool] = field(default_factory=dict)
    country_groups: dict[str, dict[str, float]] = field(default_factory=dict)


def load_names() -> NamePools:
    data = read_yaml(data_file("names.yaml"))
    nick = {k: list(v) for k, v in (data.get("nicknames") or {}).items()}
    native, passport, latin, asc, alts, nick_of = [], [], [], [], [], []
    pools: dict[str, dict[str, list[int]]] = {}
    for g, spec in data["groups"].items():
        pools[g] = {}
        for kind in ("male", "female", "surname"):
            ids = []
            for entry in spec[kind]:
                forms = [f.strip() for f in str(entry).split("|") if f.strip()]
                own = forms[0]
                pp = _mrz(forms[1] if len(forms) > 1 else own)
                lat = own if _is_latin(own) else (forms[1] if len(forms) > 1 else unidecode(own))
                others = [f for f in forms[1:] if f != lat]
                if _is_latin(own) and unidecode(own) != own:
                    others.append(unidecode(own))
                others = list(dict.fromkeys(o for o in others if o != lat))
                ids.append(len(native))
                native.append(own)
                passport.append(pp)
                latin.append(lat)
                asc.append(unidecode(lat))
                alts.append(others)
                nk = nick.get(lat) or nick.get(unidecode(lat)) or []
                nick_of.append(nk[0] if nk else "")
            pools[g][kind] = ids
    k = max(1, max(len(a) for a in alts))
    alt_arr = np.empty((len(native), k), dtype=object)
    for i, a in enumerate(alts):
        for j in range(k):
            alt_arr[i, j] = a[j] if j < len(a) else latin[i]
    groups = list(pools)
    return NamePools(
        native=np.array(native, dtype=object),
        passport=np.array(passport, dtype=object),
        latin=np.array(latin, dtype=object),
        ascii=np.array(asc, dtype=object),
        alts=alt_arr,
        n_alts=np.array([len(a) for a in alts]),
        nickname=np.array(nick_of, dtype=object),
        groups=groups,
        male={g: np.array(pools[g]["male"]) for g in groups},
        female={g: np.array(pools[g]["female"]) for g in groups},
        surname={g: np.array(pools[g]["surname"]) for g in groups},
        middle_rate={g: float(data["groups"][g].get("middle_name_rate", 0)) for g in groups},
        surname_first={g: bool(data["groups"][g].get("surname_first", False)) for g in groups},
        country_groups={c: dict(v) for c, v in (data.get("countries") or {}).items()},
    )


def assign_names(rng: np.random.Generator, pools: NamePools, country: np.ndarray,
                 sex: np.ndarray, parent: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Draw a name group from the country's mix, then given name(s) and surname ids. Children
    (parent >= 0) take their parent's group and surname."""
    n = len(country)
    group = np.zeros(n, dtype=np.int16)
    u = rng.random(n)
    kids = parent >= 0 if parent is not None else np.zeros(n, bool)
    for c in np.unique(country[~kids]):
        sel = (country == c) & ~kids
        mix = pools.country_groups.get(str(c), {"anglo": 1.0})
        names = list(mix)
        cum = np.cumsum(np.array([mix[x] for x in names], dtype=float))
        cum /= cum[-1]
        pick = np.searchsorted(cum, u[sel], side="right").clip(0, len(names) - 1)
        group[sel] = np.array([pools.groups.index(x) for x in names])[pick]
    group[kids] = group[parent[kids]]
    given1 = np.zeros(n, dtype=np.int32)
    given2 = np.full(n, -1, dtype=np.int32)
    surname = np.zeros(n, dtype=np.int32)
    r1, r2, r3, r4 = (rng.random(n) for _ in range(4))
    for gi, g in enumerate(pools.groups):
        sel = group == gi
        if not sel.any():
            continue
        fem = sel & (sex == "F")
        mal = sel & ~(sex == "F")
        for mask, pool in ((fem, pools.female[g]), (mal, pools.male[g])):
            given1[mask] = pool[(r1[mask] * len(pool)).astype(int)]
            g2 = pool[(r2[mask] * len(pool)).astype(int)]
            has2 = (r4[mask] < pools.middle_rate[g]) & (g2 != given1[mask])
            given2[mask] = np.where(has2, g2, -1)
        surname[sel] = pools.surname[g][(r3[sel] * len(pools.surname[g])).astype(int)]
    surname[kids] = surname[parent[kids]]
    return {"name_group": group, "given1": given1, "given2": given2, "surname_id": surname}


def spell(pools: NamePools, ids: np.ndarray, style: str, rng: np.random.Generator,
          variant_rate: float = 0.0, diacritics_dropped: float = 0.0,
          native: np.ndarray | None = None) -> np.ndarray:
    """Spell name ids as one register does. `style`: passport (MRZ), latin (proper case).

    ids < 0 give "" (no middle name)."""
    n = len(ids)
    safe = np.where(ids < 0, 0, ids)
    if style == "passport":
        out = pools.passport[safe].copy()
    else:
        out = pools.latin[safe].copy()
        if variant_rate > 0:
            has = pools.n_alts[safe] > 0
            v = has & (rng.random(n) < variant_rate)
            k = (rng.random(n) * np.maximum(pools.n_alts[safe], 1)).astype(int)
            out[v] = pools.alts[safe[v], k[v]]
        if diacritics_dropped > 0:
            d = rng.random(n) < diacritics_dropped
            out[d] = np.array([unidecode(s) for s in out[d]], dtype=object) if d.any() else out[d]
        if native is not None and native.any():
            out[native] = pools.native[safe[native]]
    out[ids < 0] = ""
    return out


def join_given(first: np.ndarray, middle: np.ndarray) -> np.ndarray:
    """'First Middle' (or just 'First' when there is no middle name)."""
    res = first.copy()
    has = middle != ""
    if has.any():
        res[has] = first[has] + " " + middle[has]
    return res
