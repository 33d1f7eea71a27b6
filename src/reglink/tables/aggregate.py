"""Counting persons in breakdown cells, the same way for every aggregate table.

Each breakdown set (e.g. `sex+age_group`) becomes one GROUP BY; the dimensions not in the set
read 'ALL'. Missing values were already turned into 'UNKNOWN', so 'ALL' never collides with a
real code. A plain UNION ALL of GROUP BYs is used rather than GROUPING SETS so the same SQL runs
unchanged on DuckDB and Spark and the `breakdown` label stays explicit.
"""
from __future__ import annotations

from collections.abc import Sequence


def breakdown_sql(source: str, keys: Sequence[str], dims: Sequence[str],
                  sets: Sequence[Sequence[str]], measures: str) -> str:
    """UNION ALL of one GROUP BY per breakdown set over `source`.

    keys: columns always grouped (e.g. period, event_type); dims: every breakdown column;
    sets: the combinations to publish ([] is the total); measures: the aggregate select list."""
    parts = []
    for s in sets:
        label = "+".join(s) if s else "total"
        sel = [*keys, f"'{label}' AS breakdown"]
        sel += [d if d in s else f"'ALL' AS {d}" for d in dims]
        group = [*keys, *s]
        parts.append(f"SELECT {', '.join(sel)}, {measures} FROM {source} GROUP BY {', '.join(group)}")
    return "\nUNION ALL\n".join(parts)
