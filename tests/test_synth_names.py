"""Name pools and per-register spelling: each spelling noise happens at its rate, on the names it
can apply to, and nowhere else."""
from __future__ import annotations

import math

import numpy as np
import pytest

from reglink.synth.identity import spelled_names
from reglink.synth.names import _is_latin, load_names, spell
from reglink.synth.people import make_persons
from reglink.synth.scenario import load_scenario
from reglink.synth.timeline import Period


@pytest.fixture(scope="module")
def pools():
    return load_names()


def _close(share: float, p: float, n: int) -> bool:
    return abs(share - p) <= 4 * math.sqrt(p * (1 - p) / n) + 0.005


def test_pools_are_complete(pools):
    # every group a country draws from exists, every name has a Latin and a passport form
    for country, mix in pools.country_groups.items():
        assert set(mix) <= set(pools.groups), country
        assert abs(sum(mix.values()) - 1) < 1e-9, country
    assert all(_is_latin(x) for x in pools.latin)
    assert all(x == x.upper() and x.isascii() for x in pools.passport)
    assert not all(_is_latin(x) for x in pools.native)  # other scripts are present
    assert (pools.n_alts > 0).sum() > 100  # many names have other romanisations


def test_transliteration_variants_at_their_rate(pools):
    rng = np.random.default_rng(3)
    ids = np.repeat(np.flatnonzero(pools.n_alts > 0), 40)
    out = spell(pools, ids, "latin", rng, variant_rate=0.3)
    changed = out != pools.latin[ids]
    assert _close(changed.mean(), 0.3, len(ids))
    # a variant is one of the name's own romanisations
    for i, s in zip(ids[changed][:500], out[changed][:500]):
        assert s in set(pools.alts[i])
    # names without alternatives never change
    plain = np.flatnonzero(pools.n_alts == 0)
    assert (spell(pools, plain, "latin", rng, variant_rate=1.0) == pools.latin[plain]).all()


def test_diacritics_dropped_at_their_rate(pools):
    rng = np.random.default_rng(4)
    ids = np.repeat(np.flatnonzero(pools.latin != pools.ascii), 200)
    out = spell(pools, ids, "latin", rng, diacritics_dropped=0.5)
    dropped = out == pools.ascii[ids]
    assert _close(dropped.mean(), 0.5, len(ids))
    assert all(o.isascii() for o in out[dropped])


def test_native_script_is_for_the_whole_name(pools):
    scen = load_scenario({"profiles": {"asylum_seeker": 1.0}})
    for p in list(scen["profiles"]):
        scen["profiles"][p] = 1.0 if p == "asylum_seeker" else 0.0
    period = Period.from_scenario(scen, 6)
    rng = np.random.default_rng(5)
    a = make_persons(rng, scen, period, 4000, pools)
    names = spelled_names(rng, pools, a, "latin", {"native_script": 0.25})
    non_latin = np.array([not _is_latin(s) for s in pools.native[a["surname_id"]]])
    sur_native = np.array([not _is_latin(s) for s in names["surname"]])
    giv_native = np.array([not _is_latin(s) for s in names["given"]])
    assert _close(sur_native[non_latin].mean(), 0.25, int(non_latin.sum()))
    # given names in the original script only together with the surname
    both = non_latin & np.array([not _is_latin(s) for s in pools.native[a["given1"]]])
    assert (giv_native[both] == sur_native[both]).all()


def test_middle_names_dropped_and_nicknames_at_their_rates(pools):
    scen = load_scenario()
    period = Period.from_scenario(scen, 6)
    rng = np.random.default_rng(6)
    a = make_persons(rng, scen, period, 20000, pools)
    names = spelled_names(rng, pools, a, "latin", {"middle_name_dropped": 0.3, "nickname": 0.2})
    has_mid = a["given2"] >= 0
    assert _close(names["middle_dropped"][has_mid].mean(), 0.3, int(has_mid.sum()))
    assert not names["middle_dropped"][~has_mid].any()
    has_nick = pools.nickname[a["given1"]] != ""
    assert _close(names["nickname"][has_nick].mean(), 0.2, int(has_nick.sum()))
    first = np.array([g.split(" ")[0] for g in names["given"]])
    assert (first[names["nickname"]] == pools.nickname[a["given1"]][names["nickname"]]).all()
    # passports never carry nicknames and keep the middle name
    pp = spelled_names(rng, pools, a, "passport", {})
    assert not pp["nickname"].any() and not pp["middle_dropped"].any()
    assert all(g.isascii() and g == g.upper() for g in pp["given"])
