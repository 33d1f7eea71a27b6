"""Materialisation metadata: counts, previews and rates shown in the Dagster UI."""
from __future__ import annotations

from typing import Any

import dagster as dg


def md_table(columns: list[str], rows: list[tuple[Any, ...]], limit: int = 10) -> str:
    def cell(v: Any) -> str:
        s = "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
        return s.replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(cell(v) for v in r) + " |\n" for r in rows[:limit])
    return head + body


def preview(con, table: str, limit: int = 10, where: str = "") -> dg.MetadataValue:
    """A markdown preview of the first rows of a table (warehouse tables only)."""
    cur = con.execute(f'SELECT * FROM "{table}" {where} LIMIT {int(limit)}')
    cols = [d[0] for d in cur.description]
    return dg.MetadataValue.md(md_table(cols, cur.fetchall(), limit))


def counts_md(title: str, counts: dict[str, Any]) -> dg.MetadataValue:
    rows = sorted(counts.items(), key=lambda kv: str(kv[0]))
    return dg.MetadataValue.md(f"**{title}**\n\n" + md_table(["", "value"], rows, len(rows)))


def links_overview(con) -> dict[str, Any]:
    """person_links in figures for the UI: records, persons, the first rows."""
    records, persons = con.execute(
        "SELECT count(*), count(DISTINCT person_key) FROM person_links").fetchall()[0]
    top = con.execute("SELECT source, record_id, person_key, match_probability "
                      "FROM person_links ORDER BY person_key LIMIT 10")
    cols = [d[0] for d in top.description]
    return {"records": records, "persons": persons,
            "preview": dg.MetadataValue.md(md_table(cols, top.fetchall()))}


def events_by_type(con) -> dict[str, int]:
    """Migration events per type (provisional ones apart), as the UI shows them."""
    return dict(con.execute("SELECT event_type || CASE WHEN provisional THEN ' (provisional)' "
                            "ELSE '' END, count(*) FROM migration_events GROUP BY 1 "
                            "ORDER BY 1").fetchall())
