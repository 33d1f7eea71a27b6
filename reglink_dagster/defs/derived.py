"""Stages 3-7: person links → crossings per person → residence status and migration events →
flows, stocks, temporary mobility, accounting → quality report. Unpartitioned: each is rebuilt
from all deliveries, and skipped (reported "unchanged") when its data version (its inputs'
data versions, its config keys, its code version) is the one it was last materialised with.
Each asset calls one library function and returns its metadata; the checks are
reglink.checks functions wrapped by `@asset_check`."""

import dagster as dg

from reglink import checks
# the linkage bands, as the tests and docs know them from here
from reglink.checks import (DEFAULT_LINKAGE_BANDS, DEFAULT_RESIDUAL_TOLERANCE,  # noqa: F401
                            PAIR_MINIMUMS, linkage_bands)
from reglink import store
from reglink.measure import Meter, release_memory
from reglink.schemas import SOURCES
from reglink.tables import catalog

from reglink_dagster import versions
from reglink_dagster.defs.extracts import DELIVERIES, forced, validated_key
from reglink_dagster.freshness import derived_freshness
from reglink_dagster.metadata import counts_md, events_by_type, links_overview, md_table, preview
from reglink_dagster.resources import ReglinkConfig, SparkEngine, Warehouse, run_config

LINKS_KEY = dg.AssetKey(["linkage", "person_links"])
REPORT_KEY = dg.AssetKey(["quality", "report"])

# the Dagster assets of the tables stage and their tables: generated from the declaration
# (reglink.tables.catalog), as (asset key, description, tables, upstream assets in the build)
TABLE_ASSETS: list[tuple[tuple[str, str], str, tuple[str, ...], tuple[tuple[str, str], ...]]] = [
    (step.key, step.description, tuple(catalog.tables(asset=step.key)), step.depends_on)
    for step in catalog.STEPS]


REPORT_INPUTS = (("tables", "publication"), ("tables", "accounting"), ("events", "migration_events"))
VALIDATED = [validated_key(r) for r in SOURCES]


def _deliveries(instance: dg.DagsterInstance) -> list[str]:
    return sorted(instance.get_dynamic_partitions(DELIVERIES.name))


def blocked_deliveries(instance: dg.DagsterInstance) -> list[str]:
    """Reasons of every delivery whose latest validation failed a blocking check."""
    out = []
    for key in VALIDATED:
        for p in _deliveries(instance):
            mat = versions.latest(instance, key, p)
            if versions.value(mat, "status") == "blocked":
                out.append(versions.value(mat, "blocked_reason") or f"{key.to_user_string()}/{p}")
    return out


def _gate(instance: dg.DagsterInstance) -> None:
    bad = blocked_deliveries(instance)
    if bad:
        raise dg.Failure(description="blocked by failed validation: " + " | ".join(bad))


def _upstream(instance: dg.DagsterInstance, *keys: dg.AssetKey) -> list[tuple[str, str, str]]:
    """(asset, partition, data version) of every delivery validated and of `keys`."""
    recs = versions.partition_versions(instance, VALIDATED, _deliveries(instance))
    for k in keys:
        v = versions.data_version(versions.latest(instance, k))
        if v is not None:
            recs.append((k.to_user_string(), "", v))
    return recs


def _in_warehouse(warehouse: Warehouse, tables: list[str]) -> bool:
    path = warehouse.path()
    if not path.exists():
        return False
    con = store.connect(path, read_only=True)
    try:
        return set(tables) <= set(store.tables(con))
    finally:
        con.close()


def _unchanged(context, key: dg.AssetKey, fp: str) -> dg.AssetMaterialization | None:
    """The latest materialisation when it has this data version and nothing forces a rebuild."""
    prev = versions.latest(context.instance, key)
    return prev if versions.data_version(prev) == fp and not forced(context) else None


def _peak(resources: dict) -> str:
    return f" (peak {resources['peak_rss_gb']:.1f} GB)" if resources else ""


# -- linkage ---------------------------------------------------------------------------------

def make_linkage_asset() -> dg.AssetsDefinition:
    @dg.asset(
        key=LINKS_KEY, group_name="linkage", deps=VALIDATED, kinds={"splink", "duckdb"},
        freshness_policy=derived_freshness(),
        code_version=versions.code_version("linkage"),
        description="Records of all registers resolved into persons (Splink): person_links "
                    "(warehouse) and the linkage working tables (restricted).",
    )
    def person_links(context: dg.AssetExecutionContext, reglink: ReglinkConfig,
                     warehouse: Warehouse, spark: SparkEngine):
        """reglink.linkage.link_persons, unless its inputs are what they were."""
        from reglink.linkage import link_persons

        cfg = run_config(reglink, context)
        _gate(context.instance)
        fp = versions.fingerprint(_upstream(context.instance), cfg.match_threshold,
                                  cfg.home_country, cfg.raw.get("linkage"),
                                  versions.code_version("linkage"))
        prev = _unchanged(context, LINKS_KEY, fp)
        if prev is not None and not _in_warehouse(warehouse, ["person_links"]):
            prev = None
        resources: dict = {}
        stats = versions.value(prev, "stats", {})
        if prev is None:
            with Meter() as meter:
                res = link_persons(cfg, spark=spark.for_run(cfg))
                stats = {k: v for k, v in (getattr(res, "stats", {}) or {}).items()
                         if isinstance(v, (int, float, str, bool))}
                res.close()  # the stores are written; the next stages need the memory
                del res
                release_memory()
            resources = meter.metadata()
        con = warehouse.connect(read_only=True)
        try:
            overview = links_overview(con)
            rates = checks.linkage_rates(con)
        finally:
            con.close()
        return dg.MaterializeResult(
            metadata={"records": overview["records"], "persons": overview["persons"],
                      "dagster/row_count": overview["records"], "unchanged": prev is not None,
                      **resources,
                      "linkage_rates": dg.MetadataValue.md(md_table(
                          ["register", "records", "persons", "linked to another register"],
                          [(s, r["records"], r["persons"], f"{r['cross_register_rate']:.1%}")
                           for s, r in rates.items()])),
                      "linkage_stats": counts_md("linkage statistics", stats or {}),
                      "stats": dg.MetadataValue.json(stats or {}),
                      "preview": overview["preview"],
                      "summary": f"{overview['records']} records -> {overview['persons']} persons"
                                 + _peak(resources)},
            data_version=dg.DataVersion(fp))

    return person_links


def _check_result(outcome: checks.CheckOutcome, **kw) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, description=outcome.description,
                               **({"metadata": outcome.metadata} if outcome.metadata else {}),
                               **kw)


def _linkage_rates(warehouse: Warehouse) -> dict:
    """reglink.checks.linkage_rates on the warehouse as it is now (both linkage checks)."""
    con = warehouse.connect(read_only=True)
    try:
        return checks.linkage_rates(con)
    finally:
        con.close()


@dg.asset_check(asset=LINKS_KEY, blocking=True,
                description="each accepted record has exactly one person_key")
def every_record_linked(reglink: ReglinkConfig, warehouse: Warehouse) -> dg.AssetCheckResult:
    """reglink.checks.every_record_linked on the stores as they are now."""
    cfg = reglink.load()
    rates = _linkage_rates(warehouse)
    records = sum(r["records"] for r in rates.values())
    return _check_result(checks.every_record_linked(checks.accepted_records(cfg.restricted_path),
                                                    rates, records))


@dg.asset_check(asset=LINKS_KEY, blocking=True,
                description="share of each register's records linked to another register "
                            "within orchestration.linkage_bands")
def linkage_rates(reglink: ReglinkConfig, warehouse: Warehouse) -> dg.AssetCheckResult:
    """reglink.checks.rates_within_bands with the config's band overrides."""
    cfg = reglink.load()
    rates = _linkage_rates(warehouse)
    return _check_result(checks.rates_within_bands(
        rates, (cfg.raw.get("orchestration") or {}).get("linkage_bands")))


# -- statistical tables -----------------------------------------------------------------------

ACCOUNTING_KEY = dg.AssetKey(["tables", "accounting"])
EVENTS_KEY = dg.AssetKey(["events", "migration_events"])


def _previous_counts(instance: dg.DagsterInstance) -> dict[str, int]:
    """Rows per table as the tables' latest materialisations recorded them."""
    counts: dict[str, int] = {}
    for key, _, _, _ in TABLE_ASSETS:
        counts.update(versions.value(versions.latest(instance, dg.AssetKey(list(key))),
                                     "table_counts", {}))
    return counts


def make_tables_asset() -> dg.AssetsDefinition:
    specs = [dg.AssetSpec(key, group_name=key[0], description=desc,
                          deps=[LINKS_KEY] if not deps else [dg.AssetKey(list(d)) for d in deps],
                          kinds={"duckdb", "parquet"}, skippable=True,
                          freshness_policy=derived_freshness(),
                          code_version=versions.code_version("tables"))
             for key, desc, _, deps in TABLE_ASSETS]

    @dg.multi_asset(name="statistical_tables", specs=specs, can_subset=False)
    def statistical_tables(context: dg.AssetExecutionContext, reglink: ReglinkConfig,
                           warehouse: Warehouse, spark: SparkEngine):
        """One call of reglink.tables.build_tables: the tables share a connection (temporary
        tables with dates of birth die with it), so they are built in one step."""
        from reglink.tables import build_tables

        cfg = run_config(reglink, context)
        _gate(context.instance)
        fp = versions.fingerprint(_upstream(context.instance, LINKS_KEY), cfg.home_country,
                                  cfg.rule, cfg.observed_until, cfg.reference_dates,
                                  cfg.small_cell, cfg.raw.get("tables"),
                                  versions.code_version("tables"))
        prev = _unchanged(context, EVENTS_KEY, fp)
        counts = _previous_counts(context.instance) if prev is not None else {}
        if prev is not None and not (counts and _in_warehouse(warehouse, list(counts))):
            prev = None
        resources: dict = {}
        if prev is None:
            with Meter() as meter:
                counts = build_tables(cfg, log=context.log.info, spark=spark.for_run(cfg))
                release_memory()
            resources = meter.metadata()
        by_asset: dict[tuple[str, str], dict[str, int]] = {}
        for t, n in counts.items():
            key = catalog.asset_of(t)
            if key is not None:
                by_asset.setdefault(key, {})[t] = n
        con = warehouse.connect(read_only=True)
        try:
            for key, _, _, _ in TABLE_ASSETS:
                tables = by_asset.get(key)
                if not tables:
                    context.log.warning(f"{'/'.join(key)}: build_tables produced no such table")
                    continue
                main = next(iter(tables))
                md = {"tables": counts_md("rows per table", tables),
                      "table_counts": dg.MetadataValue.json(tables),
                      "dagster/row_count": tables[main], "unchanged": prev is not None,
                      **resources, "preview": preview(con, main),
                      "summary": f"{len(counts)} tables" + _peak(resources)}
                if key == tuple(EVENTS_KEY.path):
                    ev = events_by_type(con)
                    md["events_by_type"] = counts_md("events by type", ev)
                    md.update({f"events_{k.split()[0].lower()}": v for k, v in ev.items()
                               if "provisional" not in k})
                yield dg.MaterializeResult(asset_key=dg.AssetKey(list(key)), metadata=md,
                                           data_version=dg.DataVersion(fp))
        finally:
            con.close()

    return statistical_tables


@dg.asset_check(asset=ACCOUNTING_KEY,
                description="accounting residual / stock within orchestration.residual_tolerance")
def residual_within_tolerance(reglink: ReglinkConfig, warehouse: Warehouse
                              ) -> dg.AssetCheckResult:
    """reglink.checks.residual_within_tolerance; a warning, not a stop."""
    cfg = reglink.load()
    tol = float((cfg.raw.get("orchestration") or {}).get(
        "residual_tolerance", checks.DEFAULT_RESIDUAL_TOLERANCE))
    con = warehouse.connect(read_only=True)
    try:
        outcome = checks.residual_within_tolerance(con, tol)
    finally:
        con.close()
    return _check_result(outcome, severity=dg.AssetCheckSeverity.WARN)


# -- quality report ---------------------------------------------------------------------------

def make_report_asset(table_keys: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key=REPORT_KEY, group_name="quality", deps=[LINKS_KEY, *table_keys],
              kinds={"html"}, freshness_policy=derived_freshness(), code_version=versions.code_version("quality"),
              description="The quality report per register (toolkit Annex 1-2) and the rule "
                          "comparison: static HTML under the config's reports folder.")
    def report(context: dg.AssetExecutionContext, reglink: ReglinkConfig):
        """reglink.quality.build_report, unless its inputs are what they were."""
        from reglink.quality import build_report

        cfg = reglink.load()
        fp = versions.fingerprint(_upstream(context.instance, LINKS_KEY, EVENTS_KEY),
                                  str(cfg.reports), versions.code_version("quality"))
        prev = _unchanged(context, REPORT_KEY, fp)
        index = cfg.reports / "index.html"
        resources: dict = {}
        if prev is None or not index.exists():
            with Meter() as meter:
                index = build_report(cfg)
            resources = meter.metadata()
            prev = None
        pages = sorted(p.name for p in index.parent.glob("*.html"))
        return dg.MaterializeResult(
            metadata={"index": dg.MetadataValue.path(str(index)),
                      "url": dg.MetadataValue.url(index.resolve().as_uri()),
                      "pages": dg.MetadataValue.md("\n".join(f"- {p}" for p in pages)),
                      "unchanged": prev is not None, **resources,
                      "summary": str(index) + _peak(resources)},
            data_version=dg.DataVersion(fp))

    return report


linkage_assets = [make_linkage_asset()]
tables_assets = [make_tables_asset()]
report_assets = [make_report_asset([dg.AssetKey(list(k)) for k in REPORT_INPUTS])]
