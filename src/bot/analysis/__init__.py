"""CSV analysis: reading messy files, profiling, charts and table answers.

Pure functions (no I/O, no Trio): the bot core runs them in a worker process, so every entry
point is a top-level function whose arguments and results pickle.
"""

from .charts import chart_correlations, chart_histogram, chart_timeseries
from .frame import load_frame
from .limits import REJECTION_CODES, AnalysisError, CsvLimits, CsvRejected
from .model import Alert, ColumnProfile, Profile, column_choices
from .profile import analyse_csv
from .render import MESSAGE_LIMIT, is_wide, needs_report, rejection_text, render_profile, render_table
from .report import report_file_name, report_html
from .report_xlsx import report_xlsx, report_xlsx_name
from .tables import AGGREGATIONS, TableResult, correlations, group_by, neutralise, top_n

__all__ = [
    "AGGREGATIONS",
    "MESSAGE_LIMIT",
    "REJECTION_CODES",
    "Alert",
    "AnalysisError",
    "ColumnProfile",
    "CsvLimits",
    "CsvRejected",
    "Profile",
    "TableResult",
    "analyse_csv",
    "chart_correlations",
    "chart_histogram",
    "chart_timeseries",
    "column_choices",
    "correlations",
    "group_by",
    "is_wide",
    "load_frame",
    "needs_report",
    "neutralise",
    "rejection_text",
    "render_profile",
    "render_table",
    "report_file_name",
    "report_html",
    "report_xlsx",
    "report_xlsx_name",
    "top_n",
]
