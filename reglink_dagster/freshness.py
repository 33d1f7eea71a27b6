"""When the derived tables count as fresh, tied to the monthly rebuild that keeps them so.

Registers deliver monthly; `monthly_derived_tables` rebuilds everything derived at 06:00 UTC on
the 2nd, and a delivery in between rebuilds them at once (landing sensor, `derived_after_delivery`).
So by 06:00 UTC on the 3rd of each month every derived asset must have been materialised since
06:00 UTC on the 2nd -- the rebuild ran and finished within a day. The policy is a Dagster
cron freshness policy (the 1.11+ API; the legacy maximum-lag policy is deprecated): the UI
marks an asset that missed it as stale until it is materialised again.

Kept apart from `reglink_dagster.defs` so the asset modules and the schedule both import it without a
circular import.
"""
from __future__ import annotations

from datetime import timedelta

import dagster as dg

MONTHLY_REBUILD_CRON = "0 6 2 * *"  # the schedule: 06:00 UTC on the 2nd
FRESH_BY_CRON = "0 6 3 * *"  # the deadline: a day later
REBUILD_WINDOW = timedelta(days=1)  # materialised within the day before the deadline
TIMEZONE = "UTC"


def derived_freshness() -> dg.FreshnessPolicy:
    """The freshness policy of every derived asset (person links, tables, report)."""
    return dg.FreshnessPolicy.cron(deadline_cron=FRESH_BY_CRON, lower_bound_delta=REBUILD_WINDOW,
                                   timezone=TIMEZONE)
