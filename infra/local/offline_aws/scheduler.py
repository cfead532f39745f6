"""Fires the template's Schedule events (EventBridge stores schedules but never fires them)."""

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from offline_aws.deploy import Schedule

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float | None:
    m = re.fullmatch(r"rate\((\d+)\s+(\w+)\)", expression.strip())
    return int(m.group(1)) * _UNITS[m.group(2)] if m else None


def _field_matches(field: str, value: int) -> bool:
    if field in ("*", "?"):
        return True
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/")
            step = int(step_text)
        if part in ("*", "?"):
            lo, hi = 0, 10**6
        elif "-" in part:
            lo, hi = map(int, part.split("-"))
        else:
            lo = hi = int(part)
        if lo <= value <= hi and (value - lo) % step == 0:
            return True
    return False


def cron_matches(expression: str, at: datetime) -> bool:
    """cron(minutes hours day-of-month month day-of-week year), numeric fields only."""
    m = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not m:
        return False
    minute, hour, dom, month, dow, *_ = m.group(1).split()
    return (
        _field_matches(minute, at.minute)
        and _field_matches(hour, at.hour)
        and _field_matches(dom, at.day)
        and _field_matches(month, at.month)
        and _field_matches(dow, (at.isoweekday() % 7) + 1)
    )


def scheduled_event(rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"local-{int(time.time())}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"],
        "detail": {},
    }


class Scheduler:
    def __init__(self, schedules: list[Schedule], fire: Callable[[Schedule], None]) -> None:
        self.schedules = schedules
        self.fire = fire
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        started = time.monotonic()
        last_fire = {s.rule: started for s in self.schedules}
        last_minute = None
        while not self._stop.wait(1.0):
            now = datetime.now(UTC)
            minute = now.replace(second=0, microsecond=0)
            for s in self.schedules:
                every = rate_seconds(s.expression)
                if every is not None and time.monotonic() - last_fire[s.rule] >= every:
                    last_fire[s.rule] = time.monotonic()
                    self.fire(s)
                elif every is None and minute != last_minute and cron_matches(s.expression, now):
                    self.fire(s)
            last_minute = minute
