"""Person linkage: resolve records of the delivered registers into persons (docs/linkage.md).

`link_persons(cfg)` is the pipeline stage (restricted std_* tables in, warehouse person_links
and quality_linkage_* out); `link_frames(...)` is the same on polars frames for tests and
benchmarks.
"""
from reglink.linkage.evaluate import pairwise_metrics, person_metrics
from reglink.linkage.link import LinkageResult, link_frames
from reglink.linkage.pipeline import link_persons

__all__ = ["LinkageResult", "link_frames", "link_persons", "pairwise_metrics", "person_metrics"]
