"""Secondary suppression: no suppressed cell of a publication table can be worked back out of
the cells that table publishes.

Primary suppression hides counts of 1..threshold-1 persons. A table's additive structure can
give them back: a total minus its published parts, a row of the accounting identity minus its
published terms, a year minus its published months. Each such structure is a linear relation
between cells (`Relation`: coefficients summing to zero). A relation with exactly one hidden
cell reveals it; so, until no relation has exactly one, the smallest published cell of such a
relation is hidden as well (its complement). Relations are found from each table's layout:

- breakdown tables (`flows`, `stocks`, `temporary_mobility`, `asylum_flows`): within the same
  other keys, a cell of breakdown P equals the sum of the cells of breakdown P+d that share its
  values (total = sum by sex, sex=F = sum of sex+age_group with sex=F, ...); for `flows` also a
  year = its quarters = its months and a quarter = its months;
- `accounting`: each row's identity (end = start + immigration − emigration + births − deaths
  + acquired − lost + residual), TOTAL = sum of the subpopulations per column, and one year's
  end = the next year's start;
- toolkit tables 3.1-3.3: their own formulas (A=E+F, T=A+B+U, ...); the grids: total =
  native-born + foreign-born per row and the Total row = C + D per column.

Only relations that hold exactly on the unprotected table are kept (only those give a value
back exactly); the test in tests/ attacks every pub_* table with them and recovers nothing.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import polars as pl

Cell = tuple[int, str]  # (row index in the table, count column)


@dataclass(frozen=True)
class Relation:
    """sum(coef × value) = 0 over these cells."""

    cells: tuple[Cell, ...]
    coefs: tuple[int, ...]

    def holds(self, value: dict[Cell, int | float | None]) -> bool:
        vals = [value.get(c) for c in self.cells]
        if any(v is None for v in vals):
            return False
        return sum(k * v for k, v in zip(self.coefs, vals)) == 0


def _cells_of(frame: pl.DataFrame, counts: tuple[str, ...]) -> dict[Cell, int | float | None]:
    out: dict[Cell, int | float | None] = {}
    rows = frame.select(counts).rows()
    for i, row in enumerate(rows):
        for c, v in zip(counts, row):
            out[(i, c)] = v
    return out


def _sum_relation(parent: int, children: list[int], col: str) -> Relation:
    return Relation(((parent, col), *((c, col) for c in children)), (1, *(-1 for _ in children)))


def _dims(breakdown: str) -> frozenset[str]:
    return frozenset() if breakdown == "total" else frozenset(breakdown.split("+"))


def breakdown_relations(frame: pl.DataFrame, counts: tuple[str, ...]) -> list[Relation]:
    """Parent = sum of children for every breakdown P and P+one dimension, per other keys;
    for flows also the period hierarchy (year ⊃ quarter ⊃ month)."""
    if "breakdown" not in frame.columns or frame.height == 0:
        return []
    df = frame.with_row_index("_row").with_columns(pl.lit(1).alias("_all"))  # a key to join on
    breakdowns = {b: _dims(b) for b in df["breakdown"].unique().to_list() if b is not None}
    all_dims = sorted(set().union(*breakdowns.values()) & set(df.columns))
    periodic = {"period_type", "period", "period_start", "period_end"}
    keys = [c for c in df.columns if c not in set(counts) | set(all_dims)
            | {"breakdown", "suppressed", "_row"}]  # includes _all
    parent_of: list[tuple[int, list[int]]] = []
    for p, pd_ in breakdowns.items():
        for c, cd in breakdowns.items():
            if not (pd_ < cd and len(cd) == len(pd_) + 1):
                continue
            on = keys + sorted(pd_)
            parents = df.filter(pl.col("breakdown") == p).select(*on, pl.col("_row").alias("_p"))
            children = df.filter(pl.col("breakdown") == c).select(*on, "_row")
            joined = (parents.join(children, on=on, how="left", nulls_equal=True)
                      .group_by("_p").agg(pl.col("_row").drop_nulls()))
            parent_of += [(r, list(ch)) for r, ch in joined.iter_rows()]
    if periodic <= set(df.columns):
        parent_of += _period_relations(df, keys, all_dims)
    return [_sum_relation(p, ch, col) for p, ch in parent_of for col in counts]


def _period_relations(df: pl.DataFrame, keys: list[str], dims: list[str]) -> list[tuple[int, list[int]]]:
    """A year = its quarters, a year = its months, a quarter = its months (same cell)."""
    other = [k for k in keys if k not in ("period_type", "period", "period_start", "period_end")]
    on = other + ["breakdown"] + dims
    d = df.with_columns(_y=pl.col("period_start").dt.year(),
                        _q=(pl.col("period_start").dt.month() - 1) // 3)
    out: list[tuple[int, list[int]]] = []
    for parent, child, by in (("year", "quarter", ["_y"]), ("year", "month", ["_y"]),
                              ("quarter", "month", ["_y", "_q"])):
        parents = d.filter(pl.col("period_type") == parent).select(*on, *by, pl.col("_row").alias("_p"))
        children = d.filter(pl.col("period_type") == child).select(*on, *by, "_row")
        joined = (parents.join(children, on=on + by, how="left", nulls_equal=True)
                  .group_by("_p").agg(pl.col("_row").drop_nulls()))
        out += [(r, list(ch)) for r, ch in joined.iter_rows()]
    return out


ACCOUNTING_TERMS = (("stock_end", 1), ("stock_start", -1), ("immigration", -1), ("emigration", 1),
                    ("births", -1), ("deaths", 1), ("citizenship_acquired", -1),
                    ("citizenship_lost", 1), ("residual", -1))


def accounting_relations(frame: pl.DataFrame, counts: tuple[str, ...]) -> list[Relation]:
    """Each row's identity, TOTAL = sum of subpopulations, end of a year = start of the next."""
    df = frame.with_row_index("_row")
    rel: list[Relation] = []
    terms = [(c, k) for c, k in ACCOUNTING_TERMS if c in df.columns]
    for r in df["_row"].to_list():
        rel.append(Relation(tuple((r, c) for c, _ in terms), tuple(k for _, k in terms)))
    if "subpopulation" in df.columns and "year" in df.columns:
        for (year,), g in df.group_by(["year"]):
            total = g.filter(pl.col("subpopulation") == "TOTAL")["_row"].to_list()
            parts = g.filter(pl.col("subpopulation") != "TOTAL")["_row"].to_list()
            if len(total) == 1:
                rel += [_sum_relation(total[0], parts, c) for c in counts]
        rows = {(y, s): r for r, y, s in df.select("_row", "year", "subpopulation").iter_rows()}
        for (y, s), r in rows.items():
            nxt = rows.get((y + 1, s)) if isinstance(y, int) else None
            if nxt is not None and "stock_end" in df.columns and "stock_start" in df.columns:
                rel.append(Relation(((r, "stock_end"), (nxt, "stock_start")), (1, -1)))
    return rel


def formula_relations(frame: pl.DataFrame, counts: tuple[str, ...]) -> list[Relation]:
    """Toolkit long tables: `formula` such as A=E+F or T=A+B+U, per reference year."""
    if not {"cell", "formula"} <= set(frame.columns):
        return []
    df = frame.with_row_index("_row")
    group = [c for c in ("reference_year",) if c in df.columns]
    rel: list[Relation] = []
    for _, g in (df.group_by(group) if group else [((), df)]):
        where = dict(zip(g["cell"].to_list(), g["_row"].to_list()))
        for f in g["formula"].to_list():
            m = re.fullmatch(r"\s*(\w+)\s*=\s*(\w+(?:\s*\+\s*\w+)*)\s*", f or "")
            if not m:
                continue
            names = [m.group(1)] + [x.strip() for x in m.group(2).split("+")]
            if all(n in where for n in names):
                rel += [_sum_relation(where[names[0]], [where[n] for n in names[1:]], c)
                        for c in counts]
    return rel


def grid_relations(frame: pl.DataFrame, counts: tuple[str, ...]) -> list[Relation]:
    """Toolkit grids: total = native-born + foreign-born; Total row = C) + D) rows."""
    if not {"native_born", "foreign_born", "total", "row_label"} <= set(frame.columns):
        return []
    df = frame.with_row_index("_row")
    rel = [Relation(((r, "total"), (r, "native_born"), (r, "foreign_born")), (1, -1, -1))
           for r in df["_row"].to_list()]
    group = [c for c in ("reference_year",) if c in df.columns]
    for _, g in (df.group_by(group) if group else [((), df)]):
        labels = dict(zip(g["_row"].to_list(), g["row_label"].to_list()))
        total = [r for r, lab in labels.items() if str(lab).startswith("Total")]
        parts = [r for r, lab in labels.items() if str(lab)[:2] in ("C)", "D)")]
        if len(total) == 1 and parts:
            rel += [_sum_relation(total[0], parts, c) for c in counts]
    return rel


def relations(table: str, frame: pl.DataFrame, counts: tuple[str, ...]) -> list[Relation]:
    """Every additive relation of `table` that holds exactly on `frame` (unprotected)."""
    if table == "accounting":
        found = accounting_relations(frame, counts)
    elif table.endswith("_grid"):
        found = grid_relations(frame, counts)
    elif table.startswith("toolkit_table_"):
        found = formula_relations(frame, counts)
    else:
        found = breakdown_relations(frame, counts)
    value = _cells_of(frame, counts)
    seen: set[tuple] = set()
    out = []
    for r in found:
        sig = (r.cells, r.coefs)
        if sig not in seen and len(set(r.cells)) > 1 and r.holds(value):
            seen.add(sig)
            out.append(r)
    return out


def secondary_suppression(frame: pl.DataFrame, rels: list[Relation], hidden: set,
                          unit_of, size_of) -> set:
    """Grow `hidden` (units: a row, or a (row, column) cell) until no relation has exactly one
    hidden unit. The complement is the relation's smallest non-zero published unit (zeros
    last, then the lowest row): the least information withheld for the protection gained."""
    # relations come from grouped frames in no fixed order; the complements chosen must not
    # depend on it (nor on the run): relations and their cells in a canonical order
    rels = sorted(rels, key=lambda r: tuple(sorted(r.cells)))
    units_of = [tuple(sorted(dict.fromkeys(unit_of(c) for c in r.cells), key=str)) for r in rels]
    by_unit: dict = defaultdict(list)
    for i, us in enumerate(units_of):
        for u in us:
            by_unit[u].append(i)
    hidden = set(hidden)
    unknown = [sum(u in hidden for u in us) for us in units_of]
    todo = [i for i, n in enumerate(unknown) if n == 1]
    while todo:
        i = todo.pop()
        if unknown[i] != 1:
            continue
        free = [u for u in units_of[i] if u not in hidden]
        if not free:
            continue
        pick = min(free, key=lambda u: (size_of(u) == 0, abs(size_of(u)), str(u)))
        hidden.add(pick)
        for j in by_unit[pick]:
            unknown[j] += 1
            if unknown[j] == 1:
                todo.append(j)
    return hidden


def recover(rels: list[Relation], published: dict[Cell, int | float | None]) -> dict[Cell, float]:
    """The attack: solve every relation with one unknown, repeat with what it gave, until
    nothing new; the cells worked out and their values."""
    known = {c: v for c, v in published.items() if v is not None}
    found: dict[Cell, float] = {}
    changed = True
    while changed:
        changed = False
        for r in rels:
            missing = [(c, k) for c, k in zip(r.cells, r.coefs) if c not in known]
            if len(missing) != 1:
                continue
            (cell, k) = missing[0]
            rest = sum(kk * known[c] for c, kk in zip(r.cells, r.coefs) if c != cell)
            known[cell] = found[cell] = -rest / k
            changed = True
    return found

