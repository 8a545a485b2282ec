"""What the strategy writes to disk: the session summary (JSON) and its report (PNG)."""

from flashcrash.persistence.report import write_report
from flashcrash.persistence.summary import write_summary

__all__ = ["write_report", "write_summary"]
