"""A slow, literal transcription of docs/reference.md#residence-rules for one person — the test oracle.

Day by day, crossing by crossing, in plain Python: no windows, joins or fills. The set-based
engine must agree with it on every crossing. Not used in production.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reglink.rules.rule import Rule


@dataclass
class Outcome:
    qualifies: bool
    decided_own: bool
    status_before: str
    status_after: str
    is_migration: bool
    decided: bool
    days_counted: int


def location_after(crossings: list[tuple[str, dt.date]], day: dt.date, before: bool) -> bool | None:
    """Inside after the person's last crossing on or before `day` (None: no crossing yet)."""
    loc = None
    for direction, d in crossings:
        if d <= day:
            loc = direction == "ENTRY"
    if loc is None:
        return None if not before else None
    return loc


def classify_person(crossings: list[tuple[str, dt.date]], rule: Rule, until: dt.date,
                    initial: str | None = None, intent: list[bool] | None = None,
                    majority: bool = True) -> list[Outcome]:
    """`crossings` in order (direction, date). `majority`: in continuous mode the stay must also
    hold more than half of its first N days on its own side (docs/methods.md)."""
    n, w, a = rule.threshold_days, rule.window_days, rule.max_absence_days
    one = dt.timedelta(days=1)

    def inside(d: dt.date) -> bool:
        return bool(location_after(crossings, d, False))

    quals: list[tuple[bool, bool, int]] = []
    for i, (direction, t) in enumerate(crossings):
        want = direction == "ENTRY"  # the side the crossing moves to
        if t > until:
            quals.append((False, False, 0))
            continue
        if rule.mode == "cumulative":
            counted = other = 0
            d = t
            while d <= min(t + dt.timedelta(days=w - 1), until):
                if inside(d) == want:
                    counted += 1
                else:
                    other += 1
                d += one
            yes = counted >= n
            no = other > w - n
            quals.append((yes, yes or no, counted))
        else:
            # walk from t: the stay (absence) goes on while breaks last at most A days
            last_on_side = None
            run = 0
            closed = False
            d = t
            while d <= until:
                if inside(d) == want:
                    last_on_side = d
                    run = 0
                else:
                    run += 1
                    if run > a:
                        closed = True
                        break
                d += one
            counted = 0 if last_on_side is None else (last_on_side - t).days + 1
            on = off = 0
            d = t
            while d <= min(t + dt.timedelta(days=n - 1), until):
                if inside(d) == want:
                    on += 1
                else:
                    off += 1
                d += one
            most = 2 * on > n or not majority
            lost = 2 * off >= n and majority
            yes = counted >= n and most
            quals.append((yes, yes or closed or lost, counted))
    out: list[Outcome] = []
    status = initial or ("NON_RESIDENT" if crossings[0][0] == "ENTRY" else "RESIDENT")
    all_final = True
    for i, (direction, t) in enumerate(crossings):
        yes, decided_own, counted = quals[i]
        qualifies = yes or (not decided_own and bool(intent and intent[i]))
        migrating = (direction == "ENTRY") == (status == "NON_RESIDENT")
        before = status
        is_mig = qualifies and migrating
        if is_mig:
            status = "RESIDENT" if direction == "ENTRY" else "NON_RESIDENT"
        all_final = all_final and (decided_own or not migrating)
        out.append(Outcome(qualifies, decided_own, before, status, is_mig, all_final, counted))
    return out
