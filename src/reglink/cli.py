"""The `reglink` command line (docs/reference.md#commands).

Thin by design: each command parses options and hands over to the package that owns the work.
Exit codes: 0 success, 1 data failure (ReglinkError), 2 wrong usage (UsageError, ConfigError:
a config that is missing, breaks its schema or names something impossible).
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Optional

import typer

from reglink.config import ConfigError
from reglink.errors import ReglinkError, UsageError
from reglink.schemas import SOURCES

app = typer.Typer(
    name="reglink",
    help="Turn administrative registers into international-migration statistics.",
    epilog="Exit codes: 0 success, 1 the data failed, 2 wrong usage. "
           "Reference (schemas, mapping keys, config keys, commands): docs/reference.md",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(exc: Exception, code: int) -> None:
    for line in str(exc).splitlines() or [exc.__class__.__name__]:
        typer.echo(f"reglink: {line}", err=True)
    raise typer.Exit(code)


def _guarded(fn):
    """Turn known errors into one line each on stderr and the contract's exit codes."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (UsageError, ConfigError) as exc:
            _fail(exc, 2)
        except ReglinkError as exc:
            _fail(exc, 1)

    return wrapper


@app.command()
@_guarded
def synth(
    persons: int = typer.Option(..., "--persons", min=1, help="Number of simulated persons."),
    years: int = typer.Option(6, "--years", min=1, help="Years of simulated history."),
    seed: int = typer.Option(1, "--seed", help="Random seed (same seed, same registers)."),
    out: Path = typer.Option(..., "--out", help="Output folder for registers and truth."),
    scenario: Optional[Path] = typer.Option(None, "--scenario", help="Scenario YAML (synthetic/)."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
) -> None:
    """Generate synthetic registers in the canonical schemas, plus ground truth."""
    from reglink.synth.commands import synth_command

    synth_command(persons=persons, years=years, seed=seed, out=out, scenario=scenario, fmt=fmt)


@app.command(epilog=(
    "Exit codes: 0 every row accepted (warnings do not fail an extract); 1 rows held back, "
    "or the file unreadable; 2 wrong usage (unknown SOURCE; a mapping file that is missing, "
    "is for another register or names a column outside the register's schema).\n\n"
    "Mapping file keys (all optional): source, delimiter, encoding, columns (your column: "
    "canonical column), codes (canonical column: {your code: canonical code}), date_format, "
    "dates (canonical column: format), countries (your spelling: alpha-3).\n\n"
    "Columns and codes of each register, and the mapping keys in full: "
    "docs/reference.md#register-extracts and docs/reference.md#mapping-files."))
@_guarded
def validate(
    source: str = typer.Argument(..., help=" or ".join((", ".join(SOURCES[:-1]), SOURCES[-1]))),
    file: Path = typer.Argument(..., help="The extract: CSV (UTF-8, header row) or Parquet."),
    report: Optional[Path] = typer.Option(None, "--report", help="Folder for the HTML report."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="Source mapping YAML (config/mappings/)."),
    home_country: Optional[str] = typer.Option(
        None, "--home-country", help="Country of measurement (ISO 3166-1 alpha-3). Default: "
        "home_country of --config; without either, the checks that need it are skipped "
        "(the summary says so)."),
    config: Optional[Path] = typer.Option(
        None, "--config", help="Pipeline YAML: its home_country (and the register's mapping "
        "when --mapping is not given)."),
) -> None:
    """Validate one register extract: summary on the terminal, HTML report with --report."""
    from reglink.ingest.commands import validate_command

    code = validate_command(source=source, file=file, report_dir=report, mapping=mapping,
                            home_country=home_country, config=config)
    raise typer.Exit(code)


@app.command()
@_guarded
def events(
    crossings: Path = typer.Option(..., "--crossings", help="CSV/Parquet: person_id, direction, crossing_date."),
    rule: str = typer.Option(..., "--rule", help="Preset (12-16, 6-12, 9-12, 12-12) or rule YAML."),
    out: Path = typer.Option(..., "--out", help="Output CSV or Parquet (by extension)."),
    observed_until: Optional[str] = typer.Option(None, "--observed-until", help="Last day the data cover."),
    initial_status: Optional[Path] = typer.Option(None, "--initial-status", help="CSV/Parquet: person_id, initial_status."),
) -> None:
    """Apply a residence rule to crossings that already carry a person identifier."""
    from reglink.rules.commands import events_command

    until = None
    if observed_until:
        try:
            until = dt.date.fromisoformat(observed_until)
        except ValueError:
            raise UsageError(f"--observed-until: {observed_until!r} is not a date YYYY-MM-DD") from None
    events_command(crossings=crossings, rule=rule, out=out, observed_until=until,
                   initial_status=initial_status)


@app.command()
@_guarded
def run(
    config: Path = typer.Option(Path("reglink.yaml"), "--config", help="Pipeline YAML (docs/operations.md)."),
    engine: Optional[str] = typer.Option(
        None, "--engine", help="duckdb or spark: overrides the config's `engine:` key."),
) -> None:
    """Run the whole pipeline on the configured extracts (the Dagster asset graph, in-process)."""
    from reglink.config import ENGINES
    from reglink_dagster.orchestration import run_pipeline

    if engine is not None and engine.lower() not in ENGINES:
        raise typer.BadParameter(f"{engine!r} is not one of {', '.join(ENGINES)}", param_hint="--engine")
    run_pipeline(config, engine=engine.lower() if engine else None)


@app.command()
@_guarded
def demo(
    persons: int = typer.Option(5000, "--persons", min=50, help="Simulated persons."),
    seed: int = typer.Option(1, "--seed"),
    directory: Path = typer.Option(Path("demo"), "--dir", help="Folder for registers, warehouse, reports."),
    years: int = typer.Option(6, "--years", min=2),
) -> None:
    """Generate synthetic registers and run the whole pipeline on them (DuckDB file under DIR)."""
    from reglink_dagster.orchestration import run_demo

    run_demo(persons=persons, seed=seed, directory=directory, years=years)


@app.command()
@_guarded
def query(
    sql: str = typer.Argument(..., help="One SELECT on the warehouse's tables (read-only)."),
    warehouse: Path = typer.Option(Path("demo/reglink.duckdb"), "--warehouse", help="Warehouse DuckDB file."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the full result to FILE.csv or FILE.parquet."),
    max_rows: int = typer.Option(50, "--max-rows", "--limit", min=0, help="Rows shown on the terminal."),
) -> None:
    """Query the statistical warehouse with plain SQL: its tables and nothing else."""
    from rich.table import Table

    from reglink.console import console as make_console
    from reglink.query import check_out_path, run_query, write_out

    if out is not None:
        check_out_path(out, warehouse)
    res = run_query(warehouse, sql)
    frame = res.frame
    shown = min(max_rows, frame.height)
    if out is not None:
        write_out(frame, out)
    table = Table(*res.columns, show_lines=False)
    for row in frame.head(shown).iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    # a pipe or a log file gets the whole width of wide tables, a terminal its own width
    console = make_console()
    if res.columns and shown:
        console.print(table)
    note = f"{frame.height:,} rows, {shown:,} shown"
    if shown < frame.height:
        note += " (--max-rows N for more" + ("" if out else ", --out FILE.csv for all") + ")"
    if out is not None:
        note += f"; all {frame.height:,} written to {out}"
    typer.echo(note, err=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("reglink: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
