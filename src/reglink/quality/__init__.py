"""Quality reports per source for auditors (toolkit Annex 1-2, Bangkok conclusions para 9-10)
and the comparison of residence rules. Entry point: `build_report(cfg) -> Path`."""
from reglink.quality.report import build_report

__all__ = ["build_report"]
