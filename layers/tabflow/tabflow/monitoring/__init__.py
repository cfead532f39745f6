"""The monitoring use case: captured requests vs. the champion's training reference (drift),
captured predictions vs. delayed labels (decay); alerts with hysteresis and cooldowns, and
optional retraining on the data plus the labelled captures.

captures: reading captures and labels, and the drift check of a window; decay: the labelled
performance check; alerts: the drift state kept between checks (hysteresis, persistence,
cooldowns); retrain: starting the training workflow; check: one check of one dataset."""

from tabflow.monitoring.captures import drift_check, read_captures, read_labels
from tabflow.monitoring.check import check_dataset
from tabflow.monitoring.context import MonitorContext
from tabflow.monitoring.decay import decay_check

__all__ = [
    "MonitorContext",
    "check_dataset",
    "decay_check",
    "drift_check",
    "read_captures",
    "read_labels",
]
