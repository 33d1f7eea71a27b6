"""Provisional estimates for the latest periods: final events + expected migrations, with a 95 %
interval, and the `revisions` table that keeps every run's estimate.

A crossing whose window is still open and that its observed days cannot decide is, without
evidence, counted as no migration (docs/methods.md section 5), so the latest year comes out far
too low. Statistics New Zealand publishes such periods as provisional estimates from a model of
travellers' characteristics, with 95 % intervals, revised until final; this module does the same.

1. **Candidates** (`expected_migrations`): crossings that could still become a migration (an
   ENTRY by a non-resident, an EXIT by a resident) and that the days observed up to
   `observed_until` do not decide. Each is described by what is known at the data end: the
   days observed (lag band), where the person is now and how many days they spent on each side
   (`state`, `other_band`), evidence (long permit, population registration or deregistration),
   travel reason, citizenship and the person's own travel history.
2. **Model** (`provisional_model`): the same description is computed for crossings whose
   windows have closed, as if the data had ended a random number of days into each lag band
   (pseudo-censoring), keeping only those that would then have been undecided; their final
   outcome is the response. Probabilities are cell rates, shrunk towards the next coarser cell
   (`prior_strength` pseudo-observations): direction × state × lag band, then evidence and
   days band, then travel reason, then citizenship and history. Every rate is a row of the
   model table: explainable and checkable.
3. **Flows**: `persons_final` (persons with a final event), `persons_expected` (sum of the
   candidates' probabilities), `persons_provisional_estimate` (their sum), `ci_low`, `ci_high`
   (normal interval: Bernoulli variance of each candidate plus the model variance of each cell
   rate, n² · p(1−p)/(n_train + m) per cell), `status` (`final` once every window of the period
   has closed, else `provisional`).
4. **Revisions**: each run appends its estimates (run id and time, observed_until, rule) to
   `revisions`, so a figure can be followed from its first estimate to final.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import duckdb

from reglink.rules.rule import Rule
from reglink.tables.flows import FLOW_DIMS, FLOW_SETS, flow_members_sql
from reglink.tables.settings import TableSettings
from reglink.tables.sql import add_days, columns, days_between

INTENT_REASONS = ("SETTLE", "RETURN_HOME")
FLOW_KEYS = ["period_type", "period", "period_start", "period_end", "event_type"]
ESTIMATE_COLUMNS = ["persons_final", "persons_expected", "persons_provisional_estimate",
                    "ci_low", "ci_high", "status"]
# model levels, coarse to fine: each adds features to the one before
LEVELS: list[list[str]] = [
    ["direction", "state", "lag_band"],
    ["other_band", "evidence"],
    ["reason_group"],
    ["citizen", "history"],
]


@dataclass(frozen=True)
class ProvisionalSettings:
    """Knobs of the provisional model (`tables: provisional:` in the config)."""

    lag_band_days: int = 30
    training_days: int = 3 * 365          # closed crossings this far back from the last closed day
    max_training_crossings: int = 400_000  # deterministic sample above this
    prior_strength: float = 10.0
    z: float = 1.959964
    enabled: bool = True
    # relative standard error of a counted figure against the true one (linkage, lost
    # crossings, repairs): about 1 % on synthetic worlds for years whose windows have closed
    # (bench/bench_events_truth.py); it widens every period's interval
    measurement_error: float = 0.01


def settings_of(settings: TableSettings) -> ProvisionalSettings:
    """The provisional model's knobs from the tables settings (`tables: provisional:`)."""
    known = set(ProvisionalSettings.__dataclass_fields__)
    return ProvisionalSettings(**{k: v for k, v in (settings.provisional or {}).items() if k in known})


def horizon_days(rule: Rule) -> int:
    """Days after a crossing by which its own days always decide it: W (cumulative), N
    (continuous: the first N days of the stay settle it)."""
    return rule.window_days if rule.mode == "cumulative" else rule.threshold_days


def migrating_sql(c: str = "c") -> str:
    """The crossing could be a migration under its status: ENTRY by a non-resident, EXIT by a
    resident."""
    return (f"(({c}.direction = 'ENTRY' AND {c}.status_before = 'NON_RESIDENT') OR "
            f"({c}.direction = 'EXIT' AND {c}.status_before = 'RESIDENT'))")


def undecided_sql(rule: Rule, other: str, own: str, k: str) -> str:
    """Condition: with `other` days on the side moved to and `own` days back on the starting
    side in the first `k` days, the rule cannot yet decide the crossing."""
    n, w = rule.threshold_days, rule.window_days
    if rule.mode == "cumulative":
        return f"({other} < {n} AND {own} <= {w - n})"
    # continuous (approximation): the stay is shorter than N and the majority condition can
    # still hold (fewer than half of the first N days on the wrong side)
    return f"({other} < {n} AND {k} < {n} AND 2 * {own} < {n})"


def chain_members_sql(rule: Rule, until: dt.date) -> str:
    """Every crossing not yet final (`decided` false: from a person's first undecided crossing
    on, since the status is carried): person_key, crossing_order, crossing_date, direction,
    k (days observed), r0 (resident before the person's first such crossing, which is known)
    and own_p: 1 or 0 when the crossing's own days already decide whether the stay (absence) it
    opens is long enough, NULL when the model must say."""
    h = horizon_days(rule)
    n, w = rule.threshold_days, rule.window_days
    u = f"DATE '{until.isoformat()}'"
    if rule.mode == "cumulative":
        own = (f"CASE WHEN c.days_counted >= {n} THEN 1.0 "
               f"WHEN c.days_observed - c.days_counted > {w - n} THEN 0.0 END")
    else:
        own = (f"CASE WHEN c.days_counted >= {n} THEN 1.0 "
               f"WHEN c.days_observed >= {n} THEN 0.0 END")
    return f"""
      SELECT c.person_key, c.crossing_order, c.crossing_date, c.direction,
             least({h}, {days_between('c.crossing_date', u)} + 1) AS k,
             first_value(c.status_before = 'RESIDENT') OVER (
               PARTITION BY c.person_key ORDER BY c.crossing_order) AS r0,
             {own} AS own_p, FALSE AS outcome
      FROM crossings c
      WHERE NOT c.decided AND c.crossing_date <= {u}"""


def training_sql(rule: Rule, until: dt.date, ps: ProvisionalSettings) -> str:
    """Closed, decided crossings that could migrate, one row per lag band at a pseudo-random
    day inside the band (hash of person, crossing and band): person_key, crossing_order,
    crossing_date, direction, k, outcome."""
    h = horizon_days(rule)
    u = f"DATE '{until.isoformat()}'"
    last_closed = add_days(u, -(h - 1))
    first = add_days(u, -(h - 1) - ps.training_days)
    bands = -(-h // ps.lag_band_days)
    b = ps.lag_band_days
    return f"""
      WITH base AS (
        SELECT c.person_key, c.crossing_order, c.crossing_date, c.direction,
               COALESCE(c.is_migration, FALSE) AS outcome
        FROM crossings c
        WHERE {migrating_sql()} AND c.decided AND c.crossing_date <= {last_closed}
          AND c.crossing_date > {first}),
      sampled AS (
        SELECT * FROM base
        WHERE (SELECT count(*) FROM base) <= {ps.max_training_crossings}
           OR hash(person_key, crossing_order) % 1000000
              < CAST({ps.max_training_crossings} AS BIGINT) * 1000000 / (SELECT count(*) FROM base)),
      lags AS (SELECT range AS band FROM range({bands}))
      SELECT s.person_key, s.crossing_order, s.crossing_date, s.direction,
             CAST(least({h}, l.band * {b} + 1 + hash(s.person_key, s.crossing_order, l.band) % {b})
                  AS BIGINT) AS k,
             s.outcome
      FROM sampled s CROSS JOIN lags l"""


def attributes_sql(has_permits: bool, restricted: str = "restricted",
                   permit_cols: tuple[str, ...] = ()) -> dict[str, str]:
    """Helper SELECTs the features read: per crossing (reason group, history, citizenship) and,
    with a permit register, the linked permits with the day each became known."""
    out = {"_pv_xattr": """
      SELECT c.person_key, c.crossing_order,
             CASE WHEN upper(c.travel_reason) IN ('SETTLE', 'RETURN_HOME') THEN 'intent'
                  WHEN upper(c.travel_reason) IN ('HOLIDAY', 'TRANSIT') THEN 'visit'
                  WHEN upper(c.travel_reason) IN ('BUSINESS', 'WORK', 'STUDY', 'FAMILY', 'ASYLUM')
                    THEN lower(c.travel_reason)
                  WHEN c.travel_reason IS NULL THEN 'unknown' ELSE 'other' END AS reason_group,
             upper(COALESCE(c.travel_reason, '')) IN ('SETTLE', 'RETURN_HOME') AS intent,
             CASE WHEN lag(c.crossing_date, 1) OVER w IS NULL THEN 'none_seen'
                  WHEN lag(c.crossing_date, 4) OVER w >= c.crossing_date - 365 THEN 'frequent'
                  ELSE 'some' END AS history,
             CASE WHEN p.is_citizen THEN 'citizen' WHEN p.is_citizen IS NULL THEN 'unknown'
                  ELSE 'foreign' END AS citizen,
             p.registration_date, p.registration_reason, p.deregistration_date,
             p.deregistration_reason
      FROM crossings c LEFT JOIN persons p ON p.person_key = c.person_key
      WINDOW w AS (PARTITION BY c.person_key ORDER BY c.crossing_order)"""}
    if has_permits:
        known = "COALESCE(s.issue_date, s.valid_from)" if "issue_date" in permit_cols else "s.valid_from"
        out["_pv_permits"] = f"""
          SELECT l.person_key, CAST(s.valid_from AS DATE) AS valid_from,
                 CAST(s.valid_to AS DATE) AS valid_to, CAST({known} AS DATE) AS known_from
          FROM {restricted}.std_permits s JOIN person_links l
            ON l.source = 'permits' AND CAST(l.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR)
          WHERE s.valid_from IS NOT NULL AND s.valid_to IS NOT NULL
            AND upper(s.permit_kind) <> 'VISA'"""
    return out


def features_sql(base: str, rule: Rule, ps: ProvisionalSettings, has_permits: bool) -> str:
    """Features of each row of `base` (person_key, crossing_order, crossing_date, direction, k,
    outcome) as known on day x = crossing_date + k − 1: days on each side of the border, where
    the person is, evidence, reason, citizenship, history. Presence comes from the person's
    crossings: a timeline of (date, in the country after that date's last crossing, days
    present before it) looked up at each x with a running last value (no per-row loop)."""
    n = rule.threshold_days
    b = ps.lag_band_days
    permit = "FALSE"
    if has_permits:
        permit = f"""EXISTS (SELECT 1 FROM _pv_permits pm WHERE pm.person_key = f.person_key
                   AND pm.known_from <= f.x AND pm.valid_from <= {add_days('f.crossing_date', n - 1)}
                   AND pm.valid_to >= {add_days('f.crossing_date', n - 1)})"""
    return f"""
      WITH q AS (
        SELECT row_number() OVER () AS qid, b.*, {add_days('b.crossing_date', 'b.k - 1')} AS x
        FROM {base} b),
      tl AS (
        SELECT person_key, d, in_after,
               COALESCE(sum(CASE WHEN in_after THEN {days_between('d', 'next_d')} ELSE 0 END)
                 OVER (PARTITION BY person_key ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING
                       AND 1 PRECEDING), 0) AS cum_in
        FROM (SELECT person_key, d, in_after,
                     lead(d) OVER (PARTITION BY person_key ORDER BY d) AS next_d
              FROM (SELECT person_key, crossing_date AS d,
                           arg_max(direction = 'ENTRY', crossing_order) AS in_after
                    FROM crossings GROUP BY person_key, crossing_date) g) t),
      pts AS (
        SELECT person_key, d, 0 AS kind, CAST(NULL AS BIGINT) AS qid, in_after, cum_in FROM tl
        UNION ALL
        SELECT person_key, x AS d, 1 AS kind, qid, CAST(NULL AS BOOLEAN), CAST(NULL AS BIGINT) FROM q),
      looked AS (
        SELECT qid, in_now, cum_x, d_x FROM (
          SELECT qid, kind,
                 last_value(in_after IGNORE NULLS) OVER w AS in_now,
                 last_value(cum_in IGNORE NULLS) OVER w AS cum_x,
                 last_value(CASE WHEN kind = 0 THEN d END IGNORE NULLS) OVER w AS d_x
          FROM pts
          WINDOW w AS (PARTITION BY person_key ORDER BY d, kind ROWS BETWEEN UNBOUNDED PRECEDING
                       AND CURRENT ROW)) z WHERE kind = 1),
      f AS (
        SELECT q.*, a.reason_group, a.intent, a.history, a.citizen, a.registration_date,
               a.registration_reason, a.deregistration_date, a.deregistration_reason,
               CASE WHEN q.direction = 'ENTRY' THEN dy.in_days ELSE q.k - dy.in_days END AS other_days,
               dy.in_now = (q.direction = 'ENTRY') AS on_other_side
        FROM q
        JOIN (SELECT q.qid, l.in_now,
                     l.cum_x + CASE WHEN l.in_now THEN {days_between('l.d_x', 'q.x')} + 1 ELSE 0 END
                       - t0.cum_in AS in_days
              FROM q JOIN looked l ON l.qid = q.qid
              JOIN tl t0 ON t0.person_key = q.person_key AND t0.d = q.crossing_date) dy
          ON dy.qid = q.qid
        JOIN _pv_xattr a ON a.person_key = q.person_key AND a.crossing_order = q.crossing_order)
      SELECT f.person_key, f.crossing_order, f.crossing_date, f.direction, f.k, f.outcome,
             f.other_days, f.k - f.other_days AS own_days,
             CAST(floor((f.k - 1) / {b}) AS INTEGER) AS lag_band,
             CASE WHEN f.k - f.other_days = 0 THEN 'stayed' WHEN f.on_other_side THEN 'went_again'
                  ELSE 'came_back' END AS state,
             CASE WHEN f.k - f.other_days = 0 THEN 'all'
                  WHEN f.other_days <= 30 THEN '0-30' WHEN f.other_days <= 90 THEN '31-90'
                  WHEN f.other_days <= 180 THEN '91-180' ELSE '181+' END AS other_band,
             concat_ws('+',
               CASE WHEN f.intent THEN 'intent' END,
               CASE WHEN f.direction = 'ENTRY' AND {permit} THEN 'permit' END,
               CASE WHEN f.direction = 'ENTRY' AND f.registration_date IS NOT NULL
                     AND COALESCE(f.registration_reason, '') <> 'BIRTH'
                     AND f.registration_date BETWEEN {add_days('f.crossing_date', -30)} AND f.x
                    THEN 'registered' END,
               CASE WHEN f.direction = 'EXIT' AND f.deregistration_reason = 'EMIGRATION'
                     AND f.deregistration_date BETWEEN {add_days('f.crossing_date', -30)} AND f.x
                    THEN 'deregistered' END) AS evidence,
             f.reason_group, f.citizen, f.history
      FROM f"""


def _keys(level: int) -> list[str]:
    return [c for lv in LEVELS[:level + 1] for c in lv]


def model_sql(level: int, m: float, train: str = "_pv_train_f", prefix: str = "_pv_model_") -> str:
    """Cell rates of one level from `_pv_train_f`, shrunk towards the level above
    (`_pv_model_<level-1>`; level 0 towards the direction's rate)."""
    keys = _keys(level)
    agg = (f"SELECT {', '.join(keys)}, count(*) AS n, sum(CASE WHEN outcome THEN 1 ELSE 0 END) AS y "
           f"FROM {train} GROUP BY {', '.join(keys)}")
    if level == 0:
        parent = ("(SELECT direction, avg(CASE WHEN outcome THEN 1.0 ELSE 0.0 END) AS p "
                  f"FROM {train} GROUP BY direction)")
        on = ["direction"]
    else:
        parent = f"{prefix}{level - 1}"
        on = _keys(level - 1)
    return (f"SELECT {level} AS level, a.*, (a.y + {m} * pr.p) / (a.n + {m}) AS p, a.n + {m} AS eff "
            f"FROM ({agg}) a JOIN {parent} pr USING ({', '.join(on)})")


def score_sql(levels: int, cand: str = "_pv_cand_f", train: str = "_pv_train_f",
              prefix: str = "_pv_model_") -> str:
    """Each candidate's probability and the model variance of its rate: the finest level whose
    cell the training data hold (level 0 missing: the direction's overall rate)."""
    joins = "\n".join(
        f"LEFT JOIN {prefix}{lv} m{lv} ON "
        + " AND ".join(f"m{lv}.{k} = c.{k}" for k in _keys(lv)) for lv in range(levels))
    order = list(range(levels - 1, -1, -1))
    p = "COALESCE(" + ", ".join(f"m{lv}.p" for lv in order) + ", g.p, 0.0)"
    eff = "COALESCE(" + ", ".join(f"m{lv}.eff" for lv in order) + ", g.eff, 1.0)"
    lvl = "COALESCE(" + ", ".join(f"CASE WHEN m{lv}.p IS NOT NULL THEN {lv} END" for lv in order) + ", -1)"
    return f"""
      SELECT c.*, {p} AS probability, {p} * (1 - {p}) / {eff} AS model_variance,
             {lvl} AS model_level, {eff} AS model_weight
      FROM {cand} c
      {joins}
      LEFT JOIN (SELECT direction, avg(CASE WHEN outcome THEN 1.0 ELSE 0.0 END) AS p,
                        count(*) AS eff FROM {train} GROUP BY direction) g
        ON g.direction = c.direction"""


RESET_P = 0.999


def propagate_sql(chain: str, scored: str) -> str:
    """The expected migration of every crossing of a person's undecided chain.

    p_j is the chance that the stay (absence) crossing j opens is long enough (own days, or the
    model, which is conditional on the crossing being able to migrate: so it was trained). The
    chance r that the person is resident then follows crossing by crossing:
    ENTRY r' = r + (1 − r)·p, EXIT r' = r·(1 − p), both r' = (1 − p)·r + b with b = p for an
    ENTRY, 0 for an EXIT; the expected migration is (1 − r)·p for an ENTRY, r·p for an EXIT.
    The linear recurrence is solved with running sums (r_j = e^{L_j}(r_start + Σ b_k e^{−L_k}),
    L = Σ ln(1 − p)), restarting after each crossing with p ≥ RESET_P, whose outcome is sure,
    so no product underflows. An earlier crossing that may be a migration thus makes later ones
    possible (a return after a possible emigration) or impossible (a second exit)."""
    pp = "COALESCE(ch.own_p, sc.model_probability, 0.0)"
    return f"""
      WITH a AS (
        SELECT ch.*, {pp} AS p, sc.model_probability, sc.model_variance, sc.model_cell,
               sc.model_level, {pp} >= {RESET_P} AS reset
        FROM {chain} ch LEFT JOIN {scored} sc
          ON sc.person_key = ch.person_key AND sc.crossing_order = ch.crossing_order),
      b AS (
        SELECT a.*,
               COALESCE(sum(CASE WHEN reset THEN 1 ELSE 0 END) OVER wp, 0) AS seg,
               COALESCE(last_value(CASE WHEN reset THEN direction = 'ENTRY' END IGNORE NULLS)
                        OVER wp, r0) AS r_start
        FROM a
        WINDOW wp AS (PARTITION BY person_key ORDER BY crossing_order
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
      c AS (
        SELECT b.*,
               CASE WHEN reset THEN 0.0 ELSE ln(greatest(1 - p, 1e-300)) END AS lf,
               CASE WHEN reset OR direction <> 'ENTRY' THEN 0.0 ELSE p END AS bj
        FROM b),
      d AS (
        SELECT c.*, sum(lf) OVER ws AS L FROM c
        WINDOW ws AS (PARTITION BY person_key, seg ORDER BY crossing_order
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
      e AS (
        SELECT d.*, sum(bj * exp(-greatest(L, -700))) OVER ws AS S FROM d
        WINDOW ws AS (PARTITION BY person_key, seg ORDER BY crossing_order
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
      f AS (
        SELECT e.*,
               COALESCE(exp(lag(L) OVER wq) * (CAST(r_start AS DOUBLE) + lag(S) OVER wq),
                        CAST(r_start AS DOUBLE)) AS r_before
        FROM e
        WINDOW wq AS (PARTITION BY person_key, seg ORDER BY crossing_order))
      SELECT person_key, crossing_order, crossing_date, direction, k, p, model_probability,
             model_variance, model_cell, model_level,
             least(1.0, greatest(0.0, CASE WHEN direction = 'ENTRY' THEN 1 - r_before
                                           ELSE r_before END)) AS weight,
             p * least(1.0, greatest(0.0, CASE WHEN direction = 'ENTRY' THEN 1 - r_before
                                               ELSE r_before END)) AS probability
      FROM f"""


def drift_sql(levels: int, m: float, split: str) -> tuple[list[str], str]:
    """Back-test of the model on its own training data: rates fitted on the closed crossings
    before `split` predict those from `split` on. (statements to run, SELECT of direction ->
    relative error of the predicted total), the drift of migration behaviour over time that the
    Bernoulli and cell variances do not see; it widens the interval."""
    stmts = [f"CREATE OR REPLACE TEMP TABLE _pv_old AS SELECT * FROM _pv_train_f WHERE crossing_date < {split}",
             f"CREATE OR REPLACE TEMP TABLE _pv_new AS SELECT * FROM _pv_train_f WHERE crossing_date >= {split}"]
    stmts += [f"CREATE OR REPLACE TEMP TABLE _pv_bt_{lv} AS " + model_sql(lv, m, "_pv_old", "_pv_bt_")
              for lv in range(levels)]
    sel = f"""
      SELECT direction, CASE WHEN sum(CASE WHEN outcome THEN 1 ELSE 0 END) > 0
                             THEN (sum(probability) - sum(CASE WHEN outcome THEN 1 ELSE 0 END))
                                  / sum(CASE WHEN outcome THEN 1 ELSE 0 END) ELSE 0 END AS drift
      FROM ({score_sql(levels, "_pv_new", "_pv_old", "_pv_bt_")}) t GROUP BY direction"""
    return stmts, sel


def estimate_breakdown_sql(source: str, keys: list[str]) -> str:
    """Per flows cell: expected persons, Bernoulli variance, model variance (the square of the
    candidates one cell rate drives, times that rate's variance, summed over rates)."""
    parts = []
    for s in FLOW_SETS:
        label = "+".join(s) if s else "total"
        inner_g = [*keys, *s, "model_cell"]
        sel = [*keys, f"'{label}' AS breakdown"] + [d if d in s else f"'ALL' AS {d}" for d in FLOW_DIMS]
        parts.append(
            f"SELECT {', '.join(sel)}, sum(sp) AS expected, sum(bv) AS bernoulli_variance, "
            f"sum(cnt * cnt * mv) AS model_variance, "
            f"power(max(drift) * sum(sp), 2) AS drift_variance FROM ("
            f"SELECT {', '.join(inner_g)}, sum(migrating_probability) AS cnt, sum(probability) AS sp, "
            f"sum(probability * (1 - probability)) AS bv, max(model_variance) AS mv, "
            f"max(abs(drift)) AS drift "
            f"FROM {source} GROUP BY {', '.join(inner_g)}) x GROUP BY {', '.join([*keys, *s])}")
    return "\nUNION ALL\n".join(parts)


def final_breakdown_sql(source: str, keys: list[str]) -> str:
    parts = []
    for s in FLOW_SETS:
        label = "+".join(s) if s else "total"
        sel = [*keys, f"'{label}' AS breakdown"] + [d if d in s else f"'ALL' AS {d}" for d in FLOW_DIMS]
        parts.append(f"SELECT {', '.join(sel)}, count(DISTINCT person_key) AS persons_final "
                     f"FROM {source} GROUP BY {', '.join([*keys, *s])}")
    return "\nUNION ALL\n".join(parts)


def flows_with_estimates_sql(rule: Rule, until: dt.date, z: float, measurement_error: float = 0.0) -> str:
    """`flows` with the final persons and expected persons of each cell (a cell with expected
    migrations and no event yet gets a row of its own, with persons 0)."""
    cell = [*FLOW_KEYS, "breakdown", *FLOW_DIMS]
    cs = ", ".join(cell)
    h = horizon_days(rule)
    u = f"DATE '{until.isoformat()}'"
    z0 = "CAST(0 AS BIGINT)"
    d0 = "CAST(0 AS DOUBLE)"
    long = f"""
        SELECT {cs}, persons, events, provisional_events, {z0} AS persons_final, {d0} AS expected,
               {d0} AS bv, {d0} AS mv FROM flows
        UNION ALL
        SELECT {cs}, {z0}, {z0}, {z0}, persons_final, {d0}, {d0}, {d0} FROM _pv_final
        UNION ALL
        SELECT {cs}, {z0}, {z0}, {z0}, {z0}, expected, bernoulli_variance,
               model_variance + drift_variance
        FROM _pv_expected"""
    me = float(measurement_error)
    sd = f"sqrt(sum(bv) + sum(mv) + power({me} * (sum(persons_final) + sum(expected)), 2))"
    return f"""
      SELECT {cs}, CAST(sum(persons) AS BIGINT) AS persons, CAST(sum(events) AS BIGINT) AS events,
             CAST(sum(provisional_events) AS BIGINT) AS provisional_events,
             CAST(sum(persons_final) AS BIGINT) AS persons_final,
             -- rounded: sums of doubles over parallel threads differ in the last bits
             round(sum(expected), 6) AS persons_expected,
             round(sum(persons_final) + sum(expected), 6) AS persons_provisional_estimate,
             round(greatest(0.0, sum(persons_final) + sum(expected) - {z} * {sd}), 6) AS ci_low,
             round(sum(persons_final) + sum(expected) + {z} * {sd}, 6) AS ci_high,
             CASE WHEN {add_days('period_end', h - 1)} <= {u} THEN 'final'
                  ELSE 'provisional' END AS status
      FROM ({long}) x GROUP BY {cs}"""


def build_provisional(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                      restricted: str = "restricted", ps: ProvisionalSettings | None = None,
                      run_id: str | None = None, model: bool = True) -> dict[str, int]:
    """Score the undecided crossings, add the estimate columns to `flows` and append this run's
    estimates to `revisions`; table -> rows. `model=False` (register-based flows, or
    `provisional.enabled: false`): the events as counted are the estimate, with no interval."""
    from reglink.tables.events import enrich_sql

    ps = ps or ProvisionalSettings()
    rule = settings.rule
    ccols = columns(con, "crossings")
    until = settings.observed_until or (
        con.execute("SELECT max(crossing_date) FROM crossings").fetchall()[0][0]
        if "crossing_date" in ccols else None)
    if not model and ps.enabled and columns(con, "temp._rg_pending"):
        return _register_estimates(con, settings, restricted, ps, run_id)
    if until is None or "status_before" not in ccols or not ps.enabled or not model:
        _empty_estimates(con, rule, until or dt.date.today(), ps)
        return _append_revisions(con, rule, until, run_id)
    pcols = tuple(columns(con, f"{restricted}.std_permits"))
    has_permits = bool(pcols) and "valid_to" in pcols
    for name, sql in attributes_sql(has_permits, restricted, pcols).items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_chain AS " + chain_members_sql(rule, until))
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_cand AS SELECT person_key, crossing_order, "
                "crossing_date, direction, k, outcome FROM _pv_chain WHERE own_p IS NULL")
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_train AS " + training_sql(rule, until, ps))
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_cand_f AS "
                + features_sql("_pv_cand", rule, ps, has_permits))
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_train_f AS SELECT * FROM ("
                + features_sql("_pv_train", rule, ps, has_permits) + ") t WHERE "
                + undecided_sql(rule, "other_days", "own_days", "k"))
    for lv in range(len(LEVELS)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _pv_model_{lv} AS "
                    + model_sql(lv, ps.prior_strength))
    # the model, every level in one table: cell -> training crossings, migrations, rate
    every = [c for lv in LEVELS for c in lv]
    con.execute("CREATE OR REPLACE TABLE provisional_model AS " + " UNION ALL ".join(
        f"SELECT level, {', '.join(k if k in _keys(lv) else f'CAST(NULL AS VARCHAR) AS {k}' if k != 'lag_band' else 'CAST(NULL AS INTEGER) AS lag_band' for k in every)}, "
        f"n AS training_rows, y AS migrations, p AS probability FROM _pv_model_{lv}"
        for lv in range(len(LEVELS))) + " ORDER BY ALL")
    # candidates with their probabilities, as events with the attributes of migration_events
    split = con.execute("SELECT min(crossing_date) + CAST((max(crossing_date) - min(crossing_date)) / 2 "
                        "AS INTEGER) FROM _pv_train_f").fetchall()[0][0]
    if split is None:
        con.execute("CREATE OR REPLACE TEMP TABLE _pv_drift AS SELECT 'ENTRY' AS direction, 0.0 AS drift "
                    "UNION ALL SELECT 'EXIT', 0.0")
    else:
        stmts, sel = drift_sql(len(LEVELS), ps.prior_strength, f"DATE '{split.isoformat()}'")
        for st in stmts:
            con.execute(st)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _pv_drift AS {sel}")
    cell_expr = "concat_ws('|', " + ", ".join(f"CAST(c.{k} AS VARCHAR)" for k in every) + ")"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _pv_scored AS SELECT c.person_key, c.crossing_order, "
                f"c.probability AS model_probability, c.model_variance, c.model_level, "
                f"c.state, c.other_days, c.lag_band, c.evidence, {cell_expr} AS model_cell "
                f"FROM ({score_sql(len(LEVELS))}) c")
    con.execute(f"""
      CREATE OR REPLACE TEMP TABLE _events_raw AS
      SELECT row_number() OVER () AS ev_key, c.person_key,
             CASE WHEN c.direction = 'ENTRY' THEN 'IMMIGRATION' ELSE 'EMIGRATION' END AS event_type,
             c.crossing_date AS event_date, TRUE AS provisional, x.rule, x.crossing_record_id,
             x.travel_reason, x.country_of_residence, x.origin_destination,
             c.crossing_order, c.k AS days_observed, s.other_days, s.state, s.lag_band,
             s.evidence, COALESCE(x.is_migration, FALSE) AS currently_counted, c.p AS stay_probability,
             c.model_probability, c.weight AS migrating_probability, c.probability,
             COALESCE(c.model_variance, 0.0) AS model_variance, c.model_level,
             COALESCE(c.model_cell, 'decided by days observed') AS model_cell,
             round(COALESCE(dr.drift, 0.0), 9) AS drift
      FROM ({propagate_sql('_pv_chain', '_pv_scored')}) c
      LEFT JOIN _pv_drift dr ON dr.direction = c.direction
      LEFT JOIN _pv_scored s ON s.person_key = c.person_key AND s.crossing_order = c.crossing_order
      JOIN crossings x ON x.person_key = c.person_key AND x.crossing_order = c.crossing_order
      WHERE c.probability > 0""")
    has_pm = bool(columns(con, "temp._permits"))
    carry = ("crossing_order", "days_observed", "other_days", "state", "lag_band", "evidence",
             "currently_counted", "stay_probability", "model_probability",
             "migrating_probability", "probability", "drift", "model_variance", "model_level", "model_cell")
    con.execute("CREATE OR REPLACE TABLE expected_migrations AS "
                + enrich_sql(settings, has_pm, carry) + " ORDER BY person_key, event_date")
    _estimates(con, rule, until, ps, settings.flow_periods)
    out = {"expected_migrations": _count(con, "expected_migrations"),
           "provisional_model": _count(con, "provisional_model")}
    out.update(_append_revisions(con, rule, until, run_id))
    for t in ("_pv_chain", "_pv_scored", "_pv_drift", "_pv_old", "_pv_new",
              *(f"_pv_bt_{lv}" for lv in range(len(LEVELS))), "_pv_cand", "_pv_train", "_pv_cand_f", "_pv_train_f", "_pv_xattr", "_pv_permits",
              "_pv_final", "_pv_expected", *(f"_pv_model_{lv}" for lv in range(len(LEVELS)))):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return out


def _register_estimates(con: duckdb.DuckDBPyConnection, settings: TableSettings, restricted: str,
                        ps: ProvisionalSettings, run_id: str | None) -> dict[str, int]:
    """Register-based flows: every counted event is final as counted; the expected part is the
    open stays held by a single permit, each weighted by the chance of a later sign of life
    (register_flows.pending_sql)."""
    from reglink.tables.events import enrich_sql

    until = settings.observed_until or dt.date.today()
    con.execute("""CREATE OR REPLACE TEMP TABLE _events_raw AS
      SELECT row_number() OVER () AS ev_key, person_key, 'IMMIGRATION' AS event_type,
             event_date, TRUE AS provisional, 'registers' AS rule,
             CAST(NULL AS VARCHAR) AS crossing_record_id, CAST(NULL AS VARCHAR) AS travel_reason,
             CAST(NULL AS VARCHAR) AS country_of_residence, CAST(NULL AS VARCHAR) AS origin_destination,
             probability, 1.0 AS migrating_probability, 0.0 AS model_variance,
             'register: single permit, no sign of life yet' AS model_cell, 0.0 AS drift
      FROM _rg_pending WHERE probability > 0""")
    has_pm = bool(columns(con, "temp._permits"))
    con.execute("CREATE OR REPLACE TABLE expected_migrations AS "
                + enrich_sql(settings, has_pm, ("probability", "migrating_probability", "model_variance",
                                                "model_cell", "drift"))
                + " ORDER BY person_key, event_date")
    _estimates(con, settings.rule, until, ps, settings.flow_periods, final_where="TRUE")
    out = {"expected_migrations": _count(con, "expected_migrations")}
    out.update(_append_revisions(con, settings.rule, until, run_id))
    con.execute("DROP TABLE IF EXISTS _pv_final; DROP TABLE IF EXISTS _pv_expected")
    return out


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def _estimates(con: duckdb.DuckDBPyConnection, rule: Rule, until: dt.date,
               ps: ProvisionalSettings, periods: list[str] | None, final_where: str = "NOT e.provisional") -> None:
    """Rewrite `flows` with the estimate columns: final events are the migration events that
    are not candidates."""
    periods = periods or ["month", "quarter", "year"]
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _pv_final_events AS
      SELECT e.* FROM migration_events e WHERE {final_where}""")
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_final_m AS "
                + flow_members_sql(periods, "_pv_final_events"))
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_final AS "
                + final_breakdown_sql("_pv_final_m", FLOW_KEYS))
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_exp_m AS "
                + flow_members_sql(periods, "expected_migrations",
                                   ", e.probability, e.migrating_probability, e.model_variance, e.model_cell, e.drift"))
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_expected AS "
                + estimate_breakdown_sql("_pv_exp_m", FLOW_KEYS))
    con.execute("CREATE OR REPLACE TABLE flows AS SELECT * FROM ("
                + flows_with_estimates_sql(rule, until, ps.z, ps.measurement_error)
                + ") f ORDER BY period_type, period, event_type, breakdown, "
                + ", ".join(FLOW_DIMS))
    for t in ("_pv_final_events", "_pv_final_m", "_pv_exp_m"):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def _empty_estimates(con: duckdb.DuckDBPyConnection, rule: Rule, until: dt.date,
                     ps: ProvisionalSettings) -> None:
    """No classified crossings (e.g. register-based flows): every event is final as counted."""
    cell = [*FLOW_KEYS, "breakdown", *FLOW_DIMS]
    con.execute(f"CREATE OR REPLACE TEMP TABLE _pv_expected AS SELECT {', '.join(cell)}, "
                "CAST(0 AS DOUBLE) AS expected, CAST(0 AS DOUBLE) AS bernoulli_variance, "
                "CAST(0 AS DOUBLE) AS model_variance, CAST(0 AS DOUBLE) AS drift_variance "
                "FROM flows WHERE FALSE")
    con.execute("CREATE OR REPLACE TEMP TABLE _pv_final AS SELECT "
                + ", ".join(cell) + ", persons AS persons_final FROM flows")
    con.execute("CREATE OR REPLACE TABLE flows AS SELECT * FROM ("
                + flows_with_estimates_sql(rule, until, ps.z, ps.measurement_error) + ") f ORDER BY ALL")


REVISION_COLUMNS = ["run_id", "run_time", "observed_until", "rule", *FLOW_KEYS, "breakdown",
                    *FLOW_DIMS, "status", "persons_final", "persons_expected",
                    "persons_provisional_estimate", "ci_low", "ci_high"]


def _append_revisions(con: duckdb.DuckDBPyConnection, rule: Rule, until: dt.date | None,
                      run_id: str | None) -> dict[str, int]:
    """Append this run's estimates of every flows cell to `revisions` (created on first use,
    never replaced: it is the history of the published figures)."""
    rid = run_id or uuid.uuid4().hex[:12]
    if "run_id" not in columns(con, "revisions"):
        con.execute("DROP TABLE IF EXISTS revisions")
        con.execute(f"""CREATE TABLE revisions AS SELECT CAST(NULL AS VARCHAR) AS run_id,
            CAST(NULL AS TIMESTAMP) AS run_time, CAST(NULL AS DATE) AS observed_until,
            CAST(NULL AS VARCHAR) AS rule, {', '.join(c for c in REVISION_COLUMNS[4:])}
            FROM flows WHERE FALSE""")
    u = "NULL" if until is None else f"DATE '{until.isoformat()}'"
    con.execute(f"""INSERT INTO revisions BY NAME
        SELECT '{rid}' AS run_id, CAST(current_timestamp AS TIMESTAMP) AS run_time,
               {u} AS observed_until, '{rule.name}' AS rule, {', '.join(REVISION_COLUMNS[4:])}
        FROM flows""")
    return {"revisions": _count(con, "revisions")}
