"""The drift state kept between checks, and what deserves an email.

Hysteresis: a test enters the drift state when a window shows drift (rejected, and the lower
bound of its effect at or above the threshold) for ``persistence`` windows in a row, and
leaves it only when ``clear_after`` windows in a row show the change below the threshold
(the upper bound under it). Between the two the state holds, so a steady shift near a threshold gives one steady
state and one email, not an email whenever the noise crosses the line. An email goes out
when an eligible feature enters the state, unless the same feature was emailed within
``cooldown_hours`` (flapping). State lives at monitoring/<dataset>/state.json, per feature.

Decay has the same hysteresis: it enters when ``persistence`` checks in a row show decay
(the labelled AUC's upper bound below the test AUC minus the tolerance), leaves when
``clear_after`` checks in a row show the AUC clear of that line (its lower bound above), and
holds in between; one email when it enters."""

import json
from datetime import datetime, timedelta
from typing import Any

from tabflow.contract import Monitoring
from tabflow.drift import DriftReport
from tabflow.errors import ObjectNotFound
from tabflow.ports import ObjectStore


def load_state(store: ObjectStore, uri: str, model_version: int) -> dict[str, Any]:
    try:
        state = json.loads(store.get(uri))
    except ObjectNotFound:
        state = {}
    state.setdefault("last_alert", {})
    state.setdefault("last_retrain", None)
    state.setdefault("last_check", None)
    if state.get("model_version") != model_version:  # a new champion: a new reference
        state["drift"], state["decay"] = {}, {}
    state["model_version"] = model_version
    state.setdefault("drift", {})
    state.setdefault("decay", {})
    state.pop("streaks", None)  # the state before hysteresis
    return state


def cooled(last: str | None, hours: float, now: datetime) -> bool:
    return last is None or now - datetime.fromisoformat(last) >= timedelta(hours=hours)


def update_drift_state(
    report: DriftReport, previous: dict[str, dict[str, Any]], cfg: Monitoring, now: datetime
) -> dict[str, dict[str, Any]]:
    """Apply the hysteresis to a window's report: sets each check's ``active`` tests and
    returns the new per-feature state."""
    state: dict[str, dict[str, Any]] = {}
    for check in report.checks:
        before = previous.get(check.feature) or {}
        held = set(before.get("active", []))
        showing = any(t.drifted for t in check.tests)
        streak = before.get("streak", 0) + 1 if showing else 0
        calm = {  # consecutive windows in which a held test showed the change below threshold
            t.test: before.get("calm", {}).get(t.test, 0) + 1 if t.settled else 0
            for t in check.tests
            if t.test in held
        }
        check.active = [
            t.test
            for t in check.tests
            if (t.test in held and calm[t.test] < cfg.clear_after)
            or (t.drifted and streak >= cfg.persistence)
        ]
        entry: dict[str, Any] = {"active": check.active, "streak": streak}
        if check.active:
            kept = held & set(check.active)
            entry["since"] = before.get("since") if kept else now.isoformat()
            entry["calm"] = {k: v for k, v in calm.items() if k in check.active and v}
        state[check.feature] = entry
    return state


def drift_alerts(
    report: DriftReport,
    previous: dict[str, dict[str, Any]],
    last_alert: dict[str, str],
    cfg: Monitoring,
    now: datetime,
) -> list[str]:
    """Eligible features that entered the drift state with this window (no repeat while the
    state holds) and were not emailed within the cooldown."""
    return [
        c.feature
        for c in report.drifted
        if not (previous.get(c.feature) or {}).get("active")
        and cooled(last_alert.get(f"drift:{c.feature}"), cfg.cooldown_hours, now)
    ]


def update_decay_state(
    decay: dict[str, Any], previous: dict[str, Any], cfg: Monitoring, now: datetime
) -> dict[str, Any]:
    """Apply the hysteresis to a check's decay result (decay.decay_check): sets its
    ``active`` and ``status`` ("decay" while the state holds) and returns the new state. A
    check with too few labels (no ``window``) leaves the state and its counts as they were."""
    held = bool(previous.get("active"))
    window = decay.get("window")
    streak, calm = previous.get("streak", 0), previous.get("calm", 0)
    if window is not None:
        streak = streak + 1 if window == "decay" else 0
        calm = calm + 1 if held and window == "ok" else 0
    active = (held and calm < cfg.clear_after) or (window == "decay" and streak >= cfg.persistence)
    state: dict[str, Any] = {"active": active, "streak": streak, "calm": calm if active else 0}
    if active:
        state["since"] = previous.get("since") if held else now.isoformat()
    decay["active"] = active
    if window is not None:
        decay["status"] = "decay" if active else "ok"
    if held and not active:
        decay["cleared"] = now.isoformat()
    return state
