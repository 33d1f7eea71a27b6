"""`reglink events` (docs/reference.md#commands): read crossings, repair, apply a rule, write events.

Input problems are reported as one line each naming the file, the 1-based data row and the
column (exit 1); a wrong option (unknown preset, unsupported file type) is a usage error (exit 2).
Every problem in the file is listed (up to MAX_PROBLEMS), not only the first.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from reglink.errors import Problem, ReglinkError, UsageError
from reglink.rules.engine import STATUSES, derive_events
from reglink.rules.repair import repair_crossings
from reglink.rules.rule import PRESETS, Rule, load_rule

MAX_PROBLEMS = 20
FORMATS = (".csv", ".parquet")


def _format(path: Path, what: str) -> str:
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise UsageError(f"{what} {path}: expected a .csv or .parquet file, not {ext or 'no extension'!r}")
    return ext


def read_table(path: Path, what: str) -> pl.DataFrame:
    """A CSV (all columns as text, so nothing is silently coerced) or Parquet file."""
    ext = _format(path, what)
    if not path.exists():
        raise ReglinkError(Problem(str(path), "file not found"))
    try:
        if ext == ".csv":
            return pl.read_csv(path, infer_schema=False, encoding="utf8")
        return pl.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is an unreadable extract
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ReglinkError(Problem(str(path), f"cannot read {ext[1:]} file: {first}")) from None


def _problems(df: pl.DataFrame, file: str, checks: list[tuple[str, pl.Expr, str]]) -> list[Problem]:
    """Row-level problems: each check is (column, bad-row expression, message with {value})."""
    found: list[Problem] = []
    indexed = df.with_row_index("_r")
    for column, bad, message in checks:
        rows = indexed.filter(bad.fill_null(True)).select("_r", pl.col(column).cast(pl.String)) \
            .head(MAX_PROBLEMS)
        for r, value in rows.iter_rows():
            found.append(Problem(file, message.format(value=value), row=r + 1, column=column))
    found.sort(key=lambda p: (p.row or 0, p.column or ""))
    return found[:MAX_PROBLEMS]


def _date_expr(df: pl.DataFrame, col: str) -> pl.Expr:
    dtype = df.schema[col]
    if dtype == pl.Date:
        return pl.col(col)
    if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
        return pl.col(col).cast(pl.Date)
    return pl.col(col).cast(pl.String).str.strip_chars().str.to_date("%Y-%m-%d", strict=False)


def load_crossings(path: Path) -> pl.DataFrame:
    """Crossings with `person_id`, `direction`, `crossing_date` checked row by row."""
    df = read_table(path, "--crossings")
    file = str(path)
    missing = [c for c in ("person_id", "direction", "crossing_date") if c not in df.columns]
    if missing:
        raise ReglinkError(*[Problem(file, f"required column {c} is missing", row=0, column=c)
                             for c in missing])
    if df.height == 0:
        return df.with_columns(pl.col("crossing_date").cast(pl.Date, strict=False))
    pid = pl.col("person_id").cast(pl.String).str.strip_chars()
    direction = pl.col("direction").cast(pl.String).str.strip_chars().str.to_uppercase()
    date = _date_expr(df, "crossing_date")
    problems = _problems(df, file, [
        ("person_id", pid.is_null() | (pid == ""), "person_id is empty"),
        ("direction", ~direction.is_in(["ENTRY", "EXIT"]), "direction {value!r} is not ENTRY or EXIT"),
        ("crossing_date", date.is_null(), "crossing_date {value!r} is not a date YYYY-MM-DD"),
    ])
    if problems:
        raise ReglinkError(*problems)
    return df.with_columns(direction.alias("direction"), date.alias("crossing_date"))


def load_initial_status(path: Path, id_dtype: pl.DataType) -> pl.DataFrame:
    df = read_table(path, "--initial-status")
    file = str(path)
    missing = [c for c in ("person_id", "initial_status") if c not in df.columns]
    if missing:
        raise ReglinkError(*[Problem(file, f"required column {c} is missing", row=0, column=c)
                             for c in missing])
    status = pl.col("initial_status").cast(pl.String).str.strip_chars().str.to_uppercase()
    pid = pl.col("person_id").cast(pl.String).str.strip_chars()
    problems = _problems(df, file, [
        ("person_id", pid.is_null() | (pid == ""), "person_id is empty"),
        ("initial_status", ~status.is_in(list(STATUSES)),
         "initial_status {value!r} is not RESIDENT or NON_RESIDENT"),
    ])
    dup = (df.with_row_index("_r").with_columns(pid.alias("_p"), status.alias("_s"))
           .filter(pl.col("_p").is_duplicated() & (pl.col("_s").n_unique().over("_p") > 1)))
    problems += [Problem(file, f"person_id {p!r} has more than one initial_status", row=r + 1,
                         column="initial_status")
                 for r, p in dup.select("_r", "_p").head(MAX_PROBLEMS).iter_rows()]
    if problems:
        raise ReglinkError(*problems[:MAX_PROBLEMS])
    out = df.select(pid.alias("person_id"), status.alias("initial_status")).unique("person_id")
    if id_dtype != pl.String:
        try:
            out = out.with_columns(pl.col("person_id").cast(id_dtype))
        except pl.exceptions.InvalidOperationError:
            raise ReglinkError(Problem(file, "person_id values are not of the crossings' "
                                       f"person_id type ({id_dtype})", column="person_id")) from None
    return out


def resolve_rule(spec: str) -> Rule:
    """A preset name, or a YAML rule file: an unknown name is usage, a bad file is data."""
    path = Path(spec)
    is_file = spec not in PRESETS and (path.suffix.lower() in (".yaml", ".yml") or path.exists())
    try:
        return load_rule(spec)
    except (ValueError, TypeError) as exc:
        if is_file and path.exists():
            raise ReglinkError(Problem(str(path), f"invalid rule: {exc}")) from None
        raise UsageError(f"--rule: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - YAML syntax errors and the like
        first = str(exc).strip().splitlines()[0]
        raise ReglinkError(Problem(str(path), f"cannot read rule file: {first}")) from None


def write_table(df: pl.DataFrame, path: Path) -> None:
    ext = _format(path, "--out")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if ext == ".csv":
            df.write_csv(path)
        else:
            df.write_parquet(path)
    except OSError as exc:
        raise ReglinkError(Problem(str(path), f"cannot write: {exc.strerror or exc}")) from None


def events_command(crossings: Path, rule: str, out: Path, observed_until: dt.date | None = None,
                   initial_status: Path | None = None) -> None:
    """Repair each person's crossings, apply the rule, write one row per migration event."""
    _format(out, "--out")
    the_rule = resolve_rule(rule)
    df = load_crossings(Path(crossings))
    ini = None if initial_status is None else load_initial_status(Path(initial_status),
                                                                   df.schema["person_id"])
    if df.height == 0:
        events = pl.DataFrame(schema={"person_id": pl.String, "event_type": pl.String,
                                      "event_date": pl.Date, "provisional": pl.Boolean,
                                      "rule": pl.String})
        write_table(events, Path(out))
        print(f"0 crossings, 0 migration events -> {out}")
        return
    repaired, log = repair_crossings(df)
    events = derive_events(repaired, the_rule, observed_until=observed_until, initial_status=ini)
    events = events.drop("crossing_seq")
    write_table(events, Path(out))
    n_imm = events.filter(pl.col("event_type") == "IMMIGRATION").height
    n_prov = events.filter(pl.col("provisional")).height
    print(f"{df.height:,} crossings of {df['person_id'].n_unique():,} persons, rule "
          f"{the_rule.name}: {n_imm:,} immigrations, {events.height - n_imm:,} emigrations "
          f"({n_prov:,} provisional) -> {out}")
    fixes = log.filter(pl.col("kind") != "SAME_DAY_ORDER")
    if fixes.height:
        counts = ", ".join(f"{k} {n}" for k, n in fixes.group_by("kind").len().sort("kind").iter_rows())
        log_path = Path(out).with_name(Path(out).stem + ".repairs" + Path(out).suffix)
        write_table(log, log_path)
        print(f"repaired sequences before the rule: {counts} -> {log_path}")
