"""The raw table every reader returns: text values, the file's header names, line numbers."""

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class BrokenRow:
    line: int
    reason: str
    text: str


@dataclass
class RawTable:
    table: pa.Table  # one string column per file column, in file order; nothing converted yet
    columns: list[str]  # the file's header names (may repeat: validation reports that)
    line_numbers: np.ndarray  # the file line each row starts on (the header is line 1)
    fmt: str
    encoding: str = "utf-8"
    delimiter: str | None = None
    broken: list[BrokenRow] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return self.table.num_rows + len(self.broken)

    @property
    def frame(self) -> pd.DataFrame:
        """The raw text as a DataFrame (for tools and tests; validation reads ``table``)."""
        frame = self.table.to_pandas()
        frame.columns = self.columns
        return frame


def normalise_header(name: str) -> str:
    """'  Monthly Charges ($) ' -> 'monthly_charges'; 'customerID' -> 'customerid'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")
