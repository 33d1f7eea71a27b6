"""Stages 3-7: person links → crossings per person → residence status and migration events →
flows, stocks, temporary mobility, accounting → quality report. Unpartitioned: each is rebuilt
from all deliveries, and skipped (reported "unchanged") when none of its inputs changed."""

import dagster as dg

from reglink import checks
# the linkage bands, as the tests and docs know them from here
from reglink.checks import (DEFAULT_LINKAGE_BANDS, DEFAULT_RESIDUAL_TOLERANCE,  # noqa: F401
                            PAIR_MINIMUMS, linkage_bands)
from reglink.measure import Meter, release_memory
from reglink.schemas import SOURCES
from reglink.tables import catalog

from pipelines import progress, stages, state
from pipelines.defs.extracts import forced, validated_key
from pipelines.freshness import derived_freshness
from pipelines.metadata import counts_md, md_table, preview
from pipelines.resources import ReglinkConfig, SparkEngine, Warehouse, run_config

LINKS_KEY = dg.AssetKey(["linkage", "person_links"])
REPORT_KEY = dg.AssetKey(["quality", "report"])

# the Dagster assets of the tables stage and their tables: generated from the declaration
# (reglink.tables.catalog), as (asset key, description, tables, upstream assets in the build)
TABLE_ASSETS: list[tuple[tuple[str, str], str, tuple[str, ...], tuple[tuple[str, str], ...]]] = [
    (step.key, step.description, tuple(catalog.tables(asset=step.key)), step.depends_on)
    for step in catalog.STEPS]


REPORT_INPUTS = (("tables", "publication"), ("tables", "accounting"), ("events", "migration_events"))


def blocked_deliveries(st: state.Session) -> list[str]:
    """Reasons of every delivery whose latest validation failed a blocking check."""
    return [r.reason or f"{r.asset}/{r.partition}" for r in st.all_for("validated/")
            if r.status == "blocked"]


def _gate(st: state.Session) -> None:
    bad = blocked_deliveries(st)
    if bad:
        raise dg.Failure(description="blocked by failed validation: " + " | ".join(bad))


def _upstream(st: state.Session, *assets: str) -> list[tuple[str, str, str]]:
    recs = st.all_for("validated/")
    for a in assets:
        r = st.get(a)
        recs += [r] if r else []
    return [(r.asset, r.partition, r.fingerprint) for r in recs]


def _unchanged(context, st: state.Session, name: str, fp: str,
               tables: list[str]) -> state.Record | None:
    prev = st.get(name)
    if prev and prev.fingerprint == fp and not forced(context) and st.tables_exist(
            tables or prev.summary.get("tables", [])):
        return prev
    return None


# -- linkage ---------------------------------------------------------------------------------

def make_linkage_asset() -> dg.AssetsDefinition:
    @dg.asset(
        key=LINKS_KEY, group_name="linkage", deps=[validated_key(r) for r in SOURCES],
        kinds={"splink", "duckdb"}, freshness_policy=derived_freshness(),
        description="Records of all registers resolved into persons (Splink): person_links "
                    "(warehouse) and the linkage working tables (restricted).",
        check_specs=[
            dg.AssetCheckSpec("every_record_linked", asset=LINKS_KEY, blocking=True,
                              description="each accepted record has exactly one person_key"),
            dg.AssetCheckSpec("linkage_rates", asset=LINKS_KEY, blocking=True,
                              description="share of each register's records linked to another "
                                          "register within orchestration.linkage_bands"),
        ],
    )
    def person_links(context: dg.AssetExecutionContext, reglink: ReglinkConfig,
                     warehouse: Warehouse, spark: SparkEngine):
        cfg = run_config(reglink, context)
        name = "linkage/person_links"
        with state.Session(warehouse.path()) as st:
            _gate(st)
            fp = state.fingerprint(_upstream(st), cfg.match_threshold, cfg.home_country,
                                   cfg.raw.get("linkage"), stages.code_version("linkage"))
            prev = _unchanged(context, st, name, fp, ["person_links"])
        progress.notify(name, "start")
        stats = {}
        resources: dict = {}
        if prev is None:
            with Meter() as meter:
                res = stages.get("linkage")(cfg, spark=spark.for_run(cfg))
                stats = {k: v for k, v in (getattr(res, "stats", {}) or {}).items()
                         if isinstance(v, (int, float, str, bool))}
                res.close()  # the stores are written; the next stages need the memory
                del res
                release_memory()
            resources = meter.metadata()
        std = checks.accepted_records(cfg.restricted_path)
        with state.Session(warehouse.path()) as st:
            con = st.con
            rates = checks.linkage_rates(con)
            summary = {"rates": rates, "std": std,
                       "stats": stats or (prev.summary.get("stats") if prev else {})}
            st.put(state.Record(name, state.NO_PARTITION, fp, summary=summary))
            persons = con.execute("SELECT count(DISTINCT person_key) FROM person_links").fetchall()[0][0]
            records = con.execute("SELECT count(*) FROM person_links").fetchall()[0][0]
            top = con.execute("SELECT source, record_id, person_key, match_probability "
                              "FROM person_links ORDER BY person_key LIMIT 10")
            cols = [d[0] for d in top.description]
            prev_md = md_table(cols, top.fetchall())
        progress.notify(name, "unchanged" if prev else "done",
                        f"{records} records -> {persons} persons"
                        + (f" (peak {resources['peak_rss_gb']:.1f} GB)" if resources else ""))
        linked = checks.every_record_linked(std, rates, records)
        in_band = checks.rates_within_bands(
            rates, (cfg.raw.get("orchestration") or {}).get("linkage_bands"))
        yield dg.MaterializeResult(
            metadata={"records": records, "persons": persons, "dagster/row_count": records,
                      "unchanged": prev is not None, **resources,
                      "linkage_rates": dg.MetadataValue.md(md_table(
                          ["register", "records", "persons", "linked to another register"],
                          [(s, r["records"], r["persons"], f"{r['cross_register_rate']:.1%}")
                           for s, r in rates.items()])),
                      "linkage_stats": counts_md("linkage statistics", summary["stats"] or {}),
                      "preview": dg.MetadataValue.md(prev_md)},
            data_version=dg.DataVersion(fp))
        for name_, outcome in (("every_record_linked", linked), ("linkage_rates", in_band)):
            yield dg.AssetCheckResult(check_name=name_, passed=outcome.passed,
                                      description=outcome.description,
                                      **({"metadata": outcome.metadata} if outcome.metadata else {}))

    return person_links


# -- statistical tables -----------------------------------------------------------------------

def make_tables_asset() -> dg.AssetsDefinition:
    specs = [dg.AssetSpec(key, group_name=key[0], description=desc,
                          deps=[LINKS_KEY] if not deps else [dg.AssetKey(list(d)) for d in deps],
                          kinds={"duckdb", "parquet"}, skippable=True,
                          freshness_policy=derived_freshness())
             for key, desc, _, deps in TABLE_ASSETS]
    acc_key = dg.AssetKey(["tables", "accounting"])

    @dg.multi_asset(
        name="statistical_tables", specs=specs, can_subset=False,
        check_specs=[dg.AssetCheckSpec("residual_within_tolerance", asset=acc_key,
                                       description="accounting residual / stock within "
                                                   "orchestration.residual_tolerance")],
    )
    def statistical_tables(context: dg.AssetExecutionContext, reglink: ReglinkConfig,
                           warehouse: Warehouse, spark: SparkEngine):
        """One call of reglink.tables.build_tables: the tables share a connection (temporary
        tables with dates of birth die with it), so they are built in one step."""
        cfg = run_config(reglink, context)
        name = "tables"
        with state.Session(warehouse.path()) as st:
            _gate(st)
            fp = state.fingerprint(_upstream(st, "linkage/person_links"), cfg.home_country,
                                   cfg.rule, cfg.observed_until, cfg.reference_dates,
                                   cfg.small_cell, cfg.raw.get("tables"),
                                   stages.code_version("tables"))
            prev = _unchanged(context, st, name, fp, [])
        progress.notify(name, "start")
        resources: dict = {}
        if prev is None:
            with Meter() as meter:
                counts = stages.get("tables")(cfg, log=lambda m: (context.log.info(m),
                                                                  progress.notify(name, "step", m)),
                                              spark=spark.for_run(cfg))
                release_memory()
            resources = meter.metadata()
        else:
            counts = prev.summary["counts"]
        progress.notify(name, "unchanged" if prev else "done", f"{len(counts)} tables"
                        + (f" (peak {resources['peak_rss_gb']:.1f} GB)" if resources else ""))
        by_asset: dict[tuple[str, str], dict[str, int]] = {}
        for t, n in counts.items():
            key = catalog.asset_of(t)
            if key is not None:
                by_asset.setdefault(key, {})[t] = n
        with state.Session(warehouse.path()) as st:
            st.put(state.Record(name, state.NO_PARTITION, fp,
                                summary={"counts": counts, "tables": list(counts)}))
            con = st.con
            for key, _, _, _ in TABLE_ASSETS:
                tables = by_asset.get(key)
                if not tables:
                    context.log.warning(f"{'/'.join(key)}: build_tables produced no such table")
                    continue
                main = next(iter(tables))
                md = {"tables": counts_md("rows per table", tables),
                      "dagster/row_count": tables[main], "unchanged": prev is not None, **resources,
                      "preview": preview(con, main)}
                if key == ("events", "migration_events"):
                    ev = dict(con.execute("SELECT event_type || CASE WHEN provisional THEN "
                                          "' (provisional)' ELSE '' END, count(*) FROM "
                                          "migration_events GROUP BY 1 ORDER BY 1").fetchall())
                    md["events_by_type"] = counts_md("events by type", ev)
                    md.update({f"events_{k.split()[0].lower()}": v for k, v in ev.items()
                               if "provisional" not in k})
                yield dg.MaterializeResult(asset_key=dg.AssetKey(list(key)), metadata=md,
                                           data_version=dg.DataVersion(fp))
            tol = float((cfg.raw.get("orchestration") or {}).get(
                "residual_tolerance", checks.DEFAULT_RESIDUAL_TOLERANCE))
            acc = (checks.residual_within_tolerance(con, tol)
                   if ("tables", "accounting") in by_asset else None)
        if acc is not None:
            yield dg.AssetCheckResult(asset_key=acc_key, check_name="residual_within_tolerance",
                                      passed=acc.passed, description=acc.description,
                                      metadata=acc.metadata, severity=dg.AssetCheckSeverity.WARN)

    return statistical_tables


# -- quality report ---------------------------------------------------------------------------

def make_report_asset(table_keys: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key=REPORT_KEY, group_name="quality", deps=[LINKS_KEY, *table_keys],
              kinds={"html"}, freshness_policy=derived_freshness(),
              description="The quality report per register (toolkit Annex 1-2) and the rule "
                          "comparison: static HTML under the config's reports folder.")
    def report(context: dg.AssetExecutionContext, reglink: ReglinkConfig,
               warehouse: Warehouse):
        cfg = reglink.load()
        name = "quality/report"
        with state.Session(warehouse.path()) as st:
            fp = state.fingerprint(_upstream(st, "linkage/person_links", "tables"),
                                   str(cfg.reports), stages.code_version("quality"))
            prev = _unchanged(context, st, name, fp, [])
        progress.notify(name, "start")
        index = cfg.reports / "index.html"
        resources: dict = {}
        if prev is None or not index.exists():
            with Meter() as meter:
                index = stages.get("quality")(cfg)
            resources = meter.metadata()
            prev = None
        pages = sorted(p.name for p in index.parent.glob("*.html"))
        state.put(warehouse.path(), state.Record(name, state.NO_PARTITION, fp,
                                              summary={"index": str(index), "pages": pages}))
        progress.notify(name, "unchanged" if prev else "done", str(index)
                        + (f" (peak {resources['peak_rss_gb']:.1f} GB)" if resources else ""))
        return dg.MaterializeResult(
            metadata={"index": dg.MetadataValue.path(str(index)),
                      "url": dg.MetadataValue.url(index.resolve().as_uri()),
                      "pages": dg.MetadataValue.md("\n".join(f"- {p}" for p in pages)),
                      "unchanged": prev is not None, **resources},
            data_version=dg.DataVersion(fp))

    return report


linkage_assets = ([make_linkage_asset()]
                  if stages.available("linkage") and stages.available("ingest") else [])
tables_assets = [make_tables_asset()] if linkage_assets and stages.available("tables") else []
report_assets = ([make_report_asset([dg.AssetKey(list(k)) for k in REPORT_INPUTS]
                                    if tables_assets else [])]
                 if linkage_assets and stages.available("quality") else [])
