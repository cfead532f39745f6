"""The regression parts of the evaluation report: the prediction interval's coverage overall
and by slice, and predicted against actual (residual quantiles, by decile of the prediction).
Rendering only: the figures come from the evaluation document."""

from html import escape
from typing import Any


def _cell(v: Any) -> str:
    return "" if v is None else escape(str(v))


def interval_html(ev: dict[str, Any]) -> str:
    """Coverage of each candidate's interval on the test rows, coverage and errors by slice,
    and the chosen model's residuals."""
    rows = ""
    for name, m in ev["candidates"].items():
        held = m.get("interval")
        if not held:
            continue
        rows += (
            f"<tr><th>{escape(name)}</th><td>{held['declared']}</td><td>{held['coverage']}</td>"
            f"<td>[{held['low']}, {held['high']}]</td><td>{held['covered']} / {held['rows']}</td>"
            f"<td>{held['mean_width']}</td><td>{held['median_width']}</td>"
            f"<td>{escape(held['scale'])} (q {held['q']})</td></tr>"
        )
    out = (
        "<h2>Prediction interval on the test rows</h2><table><tr><th></th><th>declared</th>"
        "<th>coverage</th><th>95% interval</th><th>covered</th><th>mean width</th>"
        f"<th>median width</th><th>scale</th></tr>{rows}</table>"
        if rows
        else "<h2>Prediction interval</h2><p>No candidate has an interval.</p>"
    )
    slices = ""
    for column, groups in (ev.get("slices") or {}).items():
        if "error" in groups:
            slices += (
                f"<tr><td>{escape(column)}</td><td colspan='6'>{escape(groups['error'])}</td></tr>"
            )
            continue
        for value, g in groups.items():
            slices += (
                f"<tr><td>{escape(column)}</td><td>{escape(value)}</td><td>{g['rows']}</td>"
                f"<td>{_cell(g.get('mae'))}</td><td>{_cell(g.get('rmse'))}</td>"
                f"<td>{_cell(g.get('coverage'))}</td><td>{_cell(g.get('mean_width'))}</td></tr>"
            )
    if slices:
        out += (
            "<h2>By slice (chosen model)</h2><table><tr><th>column</th><th>group</th><th>rows</th>"
            "<th>MAE</th><th>RMSE</th><th>coverage</th><th>mean width</th></tr>"
            f"{slices}</table>"
        )
    residuals = ev.get("residuals") or {}
    if residuals:
        quantiles = ", ".join(f"{k} {v}" for k, v in residuals.get("quantiles", {}).items())
        deciles = "".join(
            f"<tr><td>{b['rows']}</td><td>{b['predicted']}</td><td>{b['actual']}</td>"
            f"<td>{b['mae']}</td></tr>"
            for b in residuals.get("by_predicted", [])
        )
        out += (
            "<h2>Predicted against actual (chosen model)</h2>"
            f"<p>Residual (actual - predicted): mean {residuals.get('bias')}; {escape(quantiles)}</p>"
            "<table><tr><th>rows</th><th>mean predicted</th><th>mean actual</th><th>MAE</th></tr>"
            f"{deciles}</table>"
        )
    return out


def interval_markdown(ev: dict[str, Any]) -> str:
    """The model card's lines on the interval."""
    held = ev["candidates"][ev["chosen"]].get("interval")
    if not held:
        return "No prediction interval."
    return (
        f"Prediction interval ({held['scale']} split-conformal): declared coverage "
        f"{held['declared']}, held-out coverage {held['coverage']} (95% interval "
        f"[{held['low']}, {held['high']}], {held['covered']} of {held['rows']} rows), mean width "
        f"{held['mean_width']}."
    )
