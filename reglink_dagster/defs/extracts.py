"""Stage 1 and 2: raw extracts per register and their validated, standardised form.

Both are partitioned by delivery (`deliveries`: `baseline` = the config's extracts, plus one
partition per landed folder such as `2025-06`), so a new month ingests only that month.
"""

import os
from pathlib import Path

import dagster as dg

from reglink.measure import Meter, release_memory
from reglink.schemas import SOURCES

from reglink_dagster import deliveries as dl
from reglink_dagster import progress, stages, state
from reglink_dagster.metadata import counts_md, md_table
from reglink_dagster.resources import ReglinkConfig, RestrictedStore, Warehouse

DELIVERIES = dg.DynamicPartitionsDefinition(name="deliveries")
DEFAULT_MAX_QUARANTINE_SHARE = 0.10


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

    from reglink.ingest.mapping import Mapping, load_mapping
    from reglink.ingest.preflight import check_encoding

    suite = ing.expectations_enabled(cfg)
    settings = ing.settings_sha256(register, mapping, suite)
    try:
        check_encoding(path, load_mapping(mapping, register) if mapping else Mapping(register))
        return stages.get("ingest")(register, path, mapping=mapping,
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
             warehouse: Warehouse, restricted: RestrictedStore):
        cfg = reglink.load()
        name = "/".join(raw_key(register).path)
        d = dl.find(cfg, register, context.partition_key)
        if d is None:
            context.log.info(f"delivery {context.partition_key} has no {register} extract")
            return
        problem = dl.extract_problem(d)
        if problem:
            raise dg.Failure(str(problem))
        progress.notify(name, "start", d.key)
        with state.Session(warehouse.path()) as st:
            prev = st.get(name, d.key)
            sig = d.signature
            same = (prev and prev.summary.get("path") == str(d.path)
                    and prev.summary.get("signature") == sig and not forced(context))
            archived, sha = _archive(d.path, restricted.archive_dir(), register, d.key,
                                     prev.fingerprint if same else None)
            unchanged = prev is not None and prev.fingerprint == sha
            summary = {"path": str(d.path), "signature": sig, "archived": str(archived),
                       "bytes": d.path.stat().st_size}
            st.put(state.Record(name, d.key, sha, summary=summary))
        progress.notify(name, "unchanged" if unchanged else "done", f"sha256 {sha[:12]}")
        yield dg.MaterializeResult(
            metadata={"path": dg.MetadataValue.path(str(d.path)),
                      "archived_copy": dg.MetadataValue.path(str(archived)),
                      "sha256": sha, "bytes": summary["bytes"], "unchanged": unchanged,
                      "delivery": d.key},
            data_version=dg.DataVersion(sha))

    return _raw


def make_validated_asset(register: str) -> dg.AssetsDefinition:
    vkey = validated_key(register)
    name = "/".join(vkey.path)

    @dg.asset(
        key=vkey, group_name="validated", partitions_def=DELIVERIES, deps=[raw_key(register)],
        kinds={"duckdb", "great_expectations"},
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
    def _validated(context: dg.AssetExecutionContext, reglink: ReglinkConfig,
                   warehouse: Warehouse):
        from reglink.ingest.store_writer import store_result, stored_counts

        cfg = reglink.load()
        key = context.partition_key
        with state.Session(warehouse.path()) as st:
            raw = st.get("/".join(raw_key(register).path), key)
            prev = st.get(name, key)
        if raw is None:
            raise dg.Failure(f"{register}/{key}: the raw extract has not been materialised")
        archived = Path(raw.summary["archived"])
        mapping = cfg.mappings.get(register)
        mapping_sha = state.fingerprint(mapping.read_text(encoding="utf-8")) if mapping else None
        fp = state.fingerprint(raw.fingerprint, mapping_sha, cfg.home_country,
                               stages.code_version("ingest"))
        progress.notify(name, "start", key)
        stored = stored_counts(cfg, register, key) if prev else {}
        if (prev and prev.fingerprint == fp and not forced(context)
                and stored.get("std") == prev.summary.get("rows_accepted")):
            s = prev.summary
            unchanged = True
        else:
            with Meter() as meter:
                result, settings_sha = _ingest(cfg, register, archived, mapping,
                                               delivered=Path(raw.summary.get("path", archived)))
                sm = result.summary
                stored = store_result(cfg, result, delivery=key, settings_sha=settings_sha,
                                      delivered=raw.summary.get("path"))
                del result
                release_memory()
            s = {"rows_in": sm.rows_in, "rows_accepted": sm.rows_accepted,
                 "rows_quarantined": sm.rows_quarantined, "extract_id": sm.extract_id,
                 "sha256": sm.sha256, "reasons": sm.reasons, "soft": dict(sm.soft),
                 "completeness": {k: round(v, 4) for k, v in sm.completeness.items()},
                 "expectations_failed": [e.get("expectation", e.get("name", str(e)))
                                         for e in sm.expectations
                                         if isinstance(e, dict) and e.get("success") is False]}
            unchanged = False
            s["resources"] = meter.metadata()

        # checks: computed on every run from what is stored now
        balanced = s["rows_in"] == s["rows_accepted"] + s["rows_quarantined"]
        stored_ok = (stored.get("std") == s["rows_accepted"]
                     and stored.get("quarantine") == s["rows_quarantined"])
        acc_ok = balanced and stored_ok
        acc_desc = (f"{s['rows_in']} rows in = {s['rows_accepted']} accepted + "
                    f"{s['rows_quarantined']} quarantined; stored {stored.get('std')} + "
                    f"{stored.get('quarantine')}")
        limit = float((cfg.raw.get("orchestration") or {}).get(
            "max_quarantine_share", DEFAULT_MAX_QUARANTINE_SHARE))
        share = s["rows_quarantined"] / s["rows_in"] if s["rows_in"] else 0.0
        top = sorted(s["reasons"].items(), key=lambda kv: -kv[1])[:3]
        val_ok = share <= limit
        val_desc = (f"{share:.1%} of {s['rows_in']} rows quarantined (limit {limit:.0%})"
                    + (f"; top reasons: {', '.join(f'{r} {n}' for r, n in top)}" if top else "")
                    + ("" if s["rows_in"] else "; the extract has no data rows (an empty "
                       "delivery: nothing of this register enters the tables from it)"))
        failed = [d for ok, d in ((acc_ok, f"row accounting: {acc_desc}"),
                                  (val_ok, f"validation: {val_desc}")) if not ok]
        state.put(warehouse.path(), state.Record(
            name, key, fp, status="blocked" if failed else "ok",
            reason=f"{register}/{key}: " + "; ".join(failed) if failed else None, summary=s))
        progress.notify(name, "blocked" if failed else "unchanged" if unchanged else "done",
                        f"{s['rows_accepted']} accepted, {s['rows_quarantined']} quarantined"
                        + ("" if unchanged else f" (peak {s['resources']['peak_rss_gb']:.1f} GB)"))
        completeness = s.get("completeness", {})
        yield dg.MaterializeResult(
            metadata={
                "delivery": key, "extract_sha256": s.get("sha256", raw.fingerprint),
                "rows_in": s["rows_in"], "rows_accepted": s["rows_accepted"],
                "rows_quarantined": s["rows_quarantined"], "quarantine_share": round(share, 4),
                "dagster/row_count": s["rows_accepted"], "unchanged": unchanged,
                **(s.get("resources") or {}),
                "quarantine_by_reason": counts_md("rows quarantined by reason", s["reasons"]),
                "completeness": dg.MetadataValue.md(md_table(
                    ["column", "share filled"], sorted(completeness.items()), 40)),
            },
            data_version=dg.DataVersion(fp))
        yield dg.AssetCheckResult(check_name="row_accounting", passed=acc_ok,
                                  description=acc_desc, metadata={"balanced": balanced})
        yield dg.AssetCheckResult(check_name="validation", passed=val_ok, description=val_desc,
                                  metadata={"quarantine_share": round(share, 4),
                                            "limit": limit,
                                            "expectations_failed": ", ".join(
                                                s.get("expectations_failed", [])) or "none"})

    return _validated


raw_assets = [make_raw_asset(r) for r in SOURCES]
validated_assets = [make_validated_asset(r) for r in SOURCES] if stages.available("ingest") else []
