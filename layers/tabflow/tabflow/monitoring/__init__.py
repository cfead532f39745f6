"""The monitoring use case: captured requests vs. the champion's training reference (drift),
captured predictions vs. delayed labels (decay); alerts with hysteresis and cooldowns, and
optional retraining on the data plus the labelled captures.

captures: reading captures and labels, and the drift check of a window; decay: the labelled
performance check; alerts: the drift state kept between checks (hysteresis, persistence,
cooldowns); retrain: starting the training workflow; check: one check of one dataset."""
