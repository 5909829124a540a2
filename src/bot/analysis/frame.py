"""One reading pipeline for the profile and for the interactive analyses: bytes to typed columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .archive import Unpacked, unpack
from .infer import TypedColumn, type_table
from .limits import AnalysisError, CsvLimits, CsvRejected
from .reader import RawTable, read_table
from .values import Decimal

if TYPE_CHECKING:
    import pandas as pd


@dataclass(slots=True)
class Loaded:
    table: RawTable  # detection facts; its string columns are released after typing
    columns: list[TypedColumn]
    decimal: Decimal
    unpacked: Unpacked | None = None  # the archive the table came in; its bytes are dropped
    more: list[tuple[str, bytes]] | None = None  # a zip's next tables, for the caller to take


def load(data: bytes, limits: CsvLimits) -> Loaded | CsvRejected:
    """The upload's table (a zip's first); the zip's next tables ride along in `more`."""
    unpacked = unpack(data, limits)
    if isinstance(unpacked, CsvRejected):
        return unpacked
    more: list[tuple[str, bytes]] = []
    if unpacked is not None:
        data, more = unpacked.data, list(unpacked.more)
        unpacked = Unpacked(b"", unpacked.format, unpacked.member, unpacked.others)
    loaded = load_plain(data, limits)
    if isinstance(loaded, Loaded):
        loaded.unpacked, loaded.more = unpacked, more
    return loaded


def load_plain(data: bytes, limits: CsvLimits) -> Loaded | CsvRejected:
    """A table that is not packed (an archive inside an archive is refused, not opened)."""
    table = read_table(data, limits)
    del data
    if isinstance(table, CsvRejected):
        return table
    columns, decimal = type_table(table)  # takes the string columns: the typed ones replace them
    return Loaded(table, columns, decimal)


def load_frame(data: bytes, file_name: str, limits: CsvLimits | None = None) -> pd.DataFrame:
    """The file as a DataFrame with typed columns, in the order and with the names of the profile.

    Raises AnalysisError (with the refusal's code) when the file cannot be read.
    """
    import pandas as pd  # only the interactive answers need pandas; the profile does not

    del file_name  # detection looks at the content only; kept for a uniform signature
    loaded = load(data, limits or CsvLimits())
    if isinstance(loaded, CsvRejected):
        raise AnalysisError(loaded.code, loaded.params)
    columns = loaded.columns[::-1]
    del loaded
    series = {}
    while columns:  # one column at a time: each Arrow column goes once pandas has its copy
        column = columns.pop()
        # Nulls become NaN in float columns and NaT in dates; integer columns have none.
        series[column.name] = column.values.to_pandas()
    return pd.DataFrame(series, copy=False)
