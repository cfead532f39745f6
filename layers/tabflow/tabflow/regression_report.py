"""The regression parts of the model card: the prediction interval's coverage. The HTML
report's regression sections (coverage overall and by slice, predicted against actual) are
templates/regression.html.j2. Rendering only: the figures come from the evaluation document."""

from typing import Any


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
