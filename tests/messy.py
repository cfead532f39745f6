"""Messy exports of the shared datasets, built the way real client exports break.

From the repository's telco_churn.csv (and, when ../shared/data holds it, hotel_rates.csv):
a target spelled Yes/yes/Y/TRUE/No/no/N/FALSE, missing markers NA/?/blank/none mixed,
duplicate rows and rows with no id, a constant export column, a category with more than 50
values, case and space variants of a category, a BOM, a ``;`` delimiter, currency strings,
renamed headers (case, spaces, punctuation) and, for later files, values outside the range
of the first one. Each export carries what a correct pipeline must find in it."""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TELCO = ROOT / "datasets" / "telco_churn.csv"
HOTEL = ROOT.parent / "shared" / "data" / "hotel_rates.csv"
MARKERS = ["NA", "?", "", "none", " ", "N/A"]
TRUE_SPELLED = ["Yes", "yes", "Y", "TRUE"]
FALSE_SPELLED = ["No", "no", "N", "FALSE"]


@dataclass(frozen=True)
class MessyExport:
    data: bytes
    name: str
    target: str  # the target's header as the file spells it
    positive: str | None  # the positive label as a user would write it
    id: str  # the id's header as the file spells it
    rows: int  # data rows in the file
    duplicates: int  # extra copies of rows that have an id
    missing_ids: int  # rows (copies included) with no id
    unique_rows: int  # rows a correct ingest curates: an id, each once
    positives: int  # true positives among them
    records: tuple[dict, ...] = ()  # the source rows as an application sends them (JSON)


def _write(frame: pd.DataFrame, *, sep: str, bom: bool) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, sep=sep, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()


def _sprinkle(frame: pd.DataFrame, columns: list[str], share: float, rng) -> None:
    """Replace ``share`` of the cells of each column by a mix of missing markers."""
    for col in columns:
        rows = rng.random(len(frame)) < share
        frame.loc[rows, col] = rng.choice(MARKERS, rows.sum())


def _duplicate_and_drop_ids(
    frame: pd.DataFrame, id_col: str, rng, *, dup_share: float, no_id_share: float
) -> tuple[pd.DataFrame, int, int]:
    no_id = rng.random(len(frame)) < no_id_share
    frame.loc[no_id, id_col] = rng.choice(["", "NA", "?"], no_id.sum())
    copies = frame.sample(frac=dup_share, random_state=int(rng.integers(1 << 30)))
    out = pd.concat([frame, copies]).sample(frac=1.0, random_state=int(rng.integers(1 << 30)))
    missing_ids = int(no_id.sum() + no_id[frame.index.get_indexer(copies.index)].sum())
    duplicates = int((~no_id[frame.index.get_indexer(copies.index)]).sum())
    return out.reset_index(drop=True), duplicates, missing_ids


def _records(frame: pd.DataFrame) -> tuple[dict, ...]:
    """Rows as JSON objects: numbers as numbers, blanks as null, text as the source has it."""

    def json_value(key: str, value: str) -> object:
        if value == "":
            return None
        try:
            number = float(value)
        except ValueError:
            return value
        if key.endswith("_id"):
            return value
        return int(number) if number.is_integer() and "." not in value else number

    return tuple({k: json_value(k, v) for k, v in row.items()} for row in frame.to_dict("records"))


def messy_telco(*, seed: int = 7, out_of_range: bool = False) -> MessyExport:
    """The Telco churn export (7,043 customers) as a CRM would dump it."""
    rng = np.random.default_rng(seed)
    frame = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    frame["sales_rep"] = [f"rep_{i:02d}" for i in rng.integers(1, 61, len(frame))]  # 60 values
    records = _records(frame.drop(columns=["churn"]))
    churn = frame["churn"] == "Yes"
    frame["churn"] = np.where(
        churn, rng.choice(TRUE_SPELLED, len(frame)), rng.choice(FALSE_SPELLED, len(frame))
    )
    charges = frame["monthly_charges"].astype(float)
    totals = pd.to_numeric(frame["total_charges"], errors="coerce")
    tenure = frame["tenure"].astype(int)
    if out_of_range:  # a later export: longer tenures and pricier plans than the first one
        tenure, charges, totals = tenure * 3 + 12, charges * 4, totals * 12
    frame["tenure"] = tenure.astype(str)
    frame["monthly_charges"] = [f"${x:,.2f}" for x in charges]
    frame["total_charges"] = ["" if np.isnan(x) else f"${x:,.2f}" for x in totals]
    variants = rng.random(len(frame)) < 0.05  # " month-to-month", "ONE YEAR "
    frame.loc[variants, "contract"] = [
        (" " + v.lower()) if i % 2 else (v.upper() + " ")
        for i, v in enumerate(frame.loc[variants, "contract"])
    ]
    frame["exported_by"] = "crm-export-v2"
    _sprinkle(
        frame,
        ["tenure", "payment_method", "internet_service", "online_security", "total_charges"],
        0.02,
        rng,
    )
    frame, duplicates, missing_ids = _duplicate_and_drop_ids(
        frame, "customer_id", rng, dup_share=0.03, no_id_share=0.01
    )
    has_id = ~frame["customer_id"].isin(["", "NA", "?"])
    unique = frame[has_id].drop_duplicates()
    frame = frame.rename(
        columns={
            "customer_id": "Customer ID",
            "churn": "Churn",
            "senior_citizen": "SeniorCitizen",
            "monthly_charges": "Monthly Charges ($)",
            "total_charges": "TOTAL-CHARGES",
            "payment_method": "Payment Method ",
            "tenure": "Tenure",
            "sales_rep": "Sales Rep",
            "exported_by": "Exported By",
        }
    )
    return MessyExport(
        data=_write(frame, sep=";", bom=True),
        name="crm_churn_export.csv",
        target="Churn",
        positive="Yes",
        id="Customer ID",
        rows=len(frame),
        duplicates=duplicates,
        missing_ids=missing_ids,
        unique_rows=len(unique),
        positives=int(unique["churn"].isin(TRUE_SPELLED).sum()),
        records=records,
    )


def messy_hotel(*, seed: int = 11, rows: int = 4000) -> MessyExport | None:
    """A slice of the hotel bookings (regression target, ~170 countries) with euro amounts,
    a decimal comma and a ``;`` delimiter; None when the shared data is not there."""
    if not HOTEL.exists():
        return None
    rng = np.random.default_rng(seed)
    frame = pd.read_csv(HOTEL, dtype=str, keep_default_na=False, nrows=rows)
    price = frame["avg_price_per_room"].astype(float)
    frame["avg_price_per_room"] = [f"{x:.2f} €".replace(".", ",") for x in price]
    frame["historical_adr"] = [f"{float(x):.3f}".replace(".", ",") for x in frame["historical_adr"]]
    frame["is_repeated_guest"] = np.where(frame["is_repeated_guest"] == "1", "Y", "N")
    frame["source_system"] = "PMS export 4.2"
    _sprinkle(frame, ["children", "meal", "country", "lead_time"], 0.02, rng)
    frame, duplicates, missing_ids = _duplicate_and_drop_ids(
        frame, "booking_id", rng, dup_share=0.02, no_id_share=0.01
    )
    has_id = ~frame["booking_id"].isin(["", "NA", "?"])
    unique = frame[has_id].drop_duplicates()
    frame = frame.rename(columns={"booking_id": "Booking Id", "avg_price_per_room": "ADR (€)"})
    return MessyExport(
        data=_write(frame, sep=";", bom=False),
        name="pms_bookings.csv",
        target="ADR (€)",
        positive=None,
        id="Booking Id",
        rows=len(frame),
        duplicates=duplicates,
        missing_ids=missing_ids,
        unique_rows=len(unique),
        positives=0,
    )
