"""Ingest and validate register extracts (CSV/Parquet) into the canonical, standardised form.

`ingest_extract` reads one extract; `ingest_all` ingests every extract a pipeline config names
into the restricted store and logs it in the warehouse; `store_writer.store_result` is the one
writer of a result into the stores (ingest_all's baseline and the pipeline's deliveries);
`reglink validate` (commands.py) is the register owner's view of the same checks. See
docs/validation.md.
"""
from reglink.ingest.ingest import IngestResult, IngestSummary, ingest_all, ingest_extract
from reglink.ingest.mapping import Mapping, load_mapping

__all__ = ["IngestResult", "IngestSummary", "ingest_all", "ingest_extract", "Mapping",
           "load_mapping"]
