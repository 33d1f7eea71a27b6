"""Stage 1 and 2: raw extracts per register and their validated, standardised form.

Both are partitioned by delivery (`deliveries`: `baseline` = the config's extracts, plus one
partition per landed folder such as `2025-06`), so a new month ingests only that month.
"""

import os
from pathlib import Path

import dagster as dg

from reglink import checks
from reglink.checks import DEFAULT_MAX_QUARANTINE_SHARE  # noqa: F401 - known from here
from reglink.measure import Meter, release_memory
from reglink.schemas import SOURCES

from reglink_dagster import deliveries as dl
from reglink_dagster import versions
from reglink_dagster.metadata import counts_md, md_table
from reglink_dagster.resources import ReglinkConfig, RestrictedStore

DELIVERIES = dg.DynamicPartitionsDefinition(name="deliveries")


def forced(context) -> bool:
    return context.run.tags.get("reglink/force") == "true" or os.environ.get("REGLINK_FORCE") == "1"


def raw_key(register: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", register])


def validated_key(register: str) -> dg.AssetKey:
    return dg.AssetKey(["validated", register])


def _archive(src: Path, archive_dir: Path, register: str, key: str,
             sha: str | None = None) -> tuple[Path, str]:
    """Keep an immutable, owner-only copy of the delivered file (restricted area) so a delivery
    can be re-ingested after the landing folder is cleaned; (archived path, its sha256).
    A real copy, never a hard link (an edit of the landing file in place would change the
    archive too); hashed after copying, so the sha names exactly the bytes kept. `sha` (from
    an unchanged signature) skips the copy when that archive exists already."""
    from reglink import secure
    from reglink.ingest.ingest import file_sha256

    for folder in (archive_dir, archive_dir / register, archive_dir / register / key):
        secure.private_dir(folder)
    folder = archive_dir / register / key
    if sha is not None:
        dest = folder / f"{sha[:16]}{src.suffix.lower()}"
        if dest.is_file() and dest.stat().st_nlink == 1:
            secure.make_private(dest)
            return dest, sha
    part = secure.private_copy(src, folder / f".incoming-{os.getpid()}{src.suffix.lower()}")
    sha = file_sha256(part)
    dest = folder / f"{sha[:16]}{src.suffix.lower()}"
    os.replace(part, dest)
    return dest, sha


def _ingest(cfg, register: str, path: Path, mapping: Path | None,
            delivered: Path | None = None):
    """reglink.ingest.ingest_extract with the same suite switch and settings hash `ingest_all`
    uses; an extract with a header and no rows is an empty delivery (ingest_all's rule).
    `path` is the archived copy that is read; problems name the `delivered` file the register
    owner knows instead."""
    import polars as pl

    from reglink.errors import ReglinkError
    from reglink.ingest import ingest as ing
    from reglink.ingest import ingest_extract

    from reglink.ingest.mapping import Mapping, load_mapping
    from reglink.ingest.preflight import check_encoding

    suite = ing.expectations_enabled(cfg)
    settings = ing.settings_sha256(register, mapping, suite)
    try:
        check_encoding(path, load_mapping(mapping, register) if mapping else Mapping(register))
        return ingest_extract(register, path, mapping=mapping,
                                    home_country=cfg.home_country, suite=suite,
                                    budget=cfg.budget, time_zone=cfg.zone,
                                    observed_until=cfg.observed_until), settings
    except ReglinkError as exc:
        if not any("no data rows" in p.message for p in exc.problems):
            if delivered is not None:
                for problem in exc.problems:
                    if problem.file == str(path):
                        problem.file = str(delivered)
                raise ReglinkError(*exc.problems) from None
            raise
    summary = ing.IngestSummary(source=register, file=str(path),
                                sha256=ing.file_sha256(path), status="empty")
    return ing.IngestResult(register, pl.DataFrame(), pl.DataFrame(), summary), settings


def make_raw_asset(register: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(register), group_name="extracts", partitions_def=DELIVERIES,
        output_required=False, kinds={"file"},
        description=f"The {register} extract as delivered (one partition per delivery), "
                    "hashed and archived. Absent when the delivery has no such file.",
    )
    def _raw(context: dg.AssetExecutionContext, reglink: ReglinkConfig,
             restricted: RestrictedStore):
        """Archive the delivered file; its sha256 is the data version (same bytes: unchanged)."""
        cfg = reglink.load()
        d = dl.find(cfg, register, context.partition_key)
        if d is None:
            context.log.info(f"delivery {context.partition_key} has no {register} extract")
            return
        problem = dl.extract_problem(d)
        if problem:
            raise dg.Failure(str(problem))
        prev = versions.latest(context.instance, raw_key(register), d.key)
        before = versions.data_version(prev)
        same_file = (versions.value(prev, "path") == str(d.path)
                     and versions.value(prev, "signature") == d.signature and not forced(context))
        archived, sha = _archive(d.path, restricted.archive_dir(), register, d.key,
                                 before if same_file else None)
        yield dg.MaterializeResult(
            metadata={"path": dg.MetadataValue.path(str(d.path)),
                      "archived_copy": dg.MetadataValue.path(str(archived)),
                      "sha256": sha, "bytes": d.path.stat().st_size, "signature": d.signature,
                      "unchanged": before == sha, "delivery": d.key,
                      "summary": f"sha256 {sha[:12]}"},
            data_version=dg.DataVersion(sha))

    return _raw


def _ingest_summary(result) -> dict:
    """What the validated asset remembers of one ingest (its metadata, read back next run)."""
    sm = result.summary
    return {"rows_in": sm.rows_in, "rows_accepted": sm.rows_accepted,
            "rows_quarantined": sm.rows_quarantined, "extract_id": sm.extract_id,
            "sha256": sm.sha256, "reasons": sm.reasons, "soft": dict(sm.soft),
            "completeness": {k: round(v, 4) for k, v in sm.completeness.items()},
            "expectations_failed": [e.get("expectation", e.get("name", str(e)))
                                    for e in sm.expectations
                                    if isinstance(e, dict) and e.get("success") is False]}


def make_validated_asset(register: str) -> dg.AssetsDefinition:
    vkey = validated_key(register)

    @dg.asset(
        key=vkey, group_name="validated", partitions_def=DELIVERIES, deps=[raw_key(register)],
        kinds={"duckdb", "great_expectations"}, code_version=versions.code_version("ingest"),
        description=f"{register}: typed, standardised and checked against its expectation suite "
                    "(restricted std_ and quarantine_ tables, one set of rows per delivery).",
        check_specs=[
            dg.AssetCheckSpec("row_accounting", asset=vkey, blocking=True,
                              description="rows in = accepted + quarantined, and both are stored"),
            dg.AssetCheckSpec("validation", asset=vkey, blocking=True,
                              description="Great Expectations suite: share of rows quarantined "
                                          "within orchestration.max_quarantine_share"),
        ],
    )
    def _validated(context: dg.AssetExecutionContext, reglink: ReglinkConfig):
        """reglink.ingest for one delivery; the checks (per partition, so in this step) are
        reglink.checks functions on what the restricted store holds now."""
        from reglink.ingest.store_writer import store_result, stored_counts

        cfg = reglink.load()
        key = context.partition_key
        raw = versions.latest(context.instance, raw_key(register), key)
        if raw is None:
            raise dg.Failure(f"{register}/{key}: the raw extract has not been materialised")
        archived = Path(versions.value(raw, "archived_copy"))
        mapping = cfg.mappings.get(register)
        mapping_sha = versions.fingerprint(mapping.read_text(encoding="utf-8")) if mapping else None
        fp = versions.fingerprint(versions.data_version(raw), mapping_sha, cfg.home_country,
                                  versions.code_version("ingest"))
        prev = versions.latest(context.instance, vkey, key)
        s = versions.value(prev, "ingest")
        stored = stored_counts(cfg, register, key) if s else {}
        unchanged = bool(s and versions.data_version(prev) == fp and not forced(context)
                         and stored.get("std") == s.get("rows_accepted"))
        if not unchanged:
            with Meter() as meter:
                result, settings_sha = _ingest(cfg, register, archived, mapping,
                                               delivered=Path(versions.value(raw, "path", archived)))
                s = _ingest_summary(result)
                stored = store_result(cfg, result, delivery=key, settings_sha=settings_sha,
                                      delivered=versions.value(raw, "path"))
                del result
                release_memory()
            s["resources"] = meter.metadata()
        limit = float((cfg.raw.get("orchestration") or {}).get(
            "max_quarantine_share", checks.DEFAULT_MAX_QUARANTINE_SHARE))
        acc = checks.row_accounting(s, stored)
        val = checks.quarantine_within_limit(s, limit)
        failed = [f"{name}: {o.description}" for name, o in
                  (("row accounting", acc), ("validation", val)) if not o.passed]
        yield dg.MaterializeResult(
            metadata={
                "delivery": key, "extract_sha256": s.get("sha256", versions.data_version(raw)),
                "rows_in": s["rows_in"], "rows_accepted": s["rows_accepted"],
                "rows_quarantined": s["rows_quarantined"],
                "quarantine_share": val.metadata["quarantine_share"],
                "dagster/row_count": s["rows_accepted"], "unchanged": unchanged,
                **(s.get("resources") or {}),
                "quarantine_by_reason": counts_md("rows quarantined by reason", s["reasons"]),
                "completeness": dg.MetadataValue.md(md_table(
                    ["column", "share filled"], sorted(s.get("completeness", {}).items()), 40)),
                # read back by the next run (unchanged), the derived assets' gate and the headline
                "summary": f"{s['rows_accepted']} accepted, {s['rows_quarantined']} quarantined"
                           + ("" if unchanged else
                              f" (peak {s['resources']['peak_rss_gb']:.1f} GB)"),
                "ingest": dg.MetadataValue.json(s),
                "status": "blocked" if failed else "ok",
                "blocked_reason": f"{register}/{key}: " + "; ".join(failed) if failed else "",
            },
            data_version=dg.DataVersion(fp))
        yield dg.AssetCheckResult(check_name="row_accounting", passed=acc.passed,
                                  description=acc.description, metadata=acc.metadata)
        yield dg.AssetCheckResult(check_name="validation", passed=val.passed,
                                  description=val.description, metadata=val.metadata)

    return _validated


raw_assets = [make_raw_asset(r) for r in SOURCES]
validated_assets = [make_validated_asset(r) for r in SOURCES]
