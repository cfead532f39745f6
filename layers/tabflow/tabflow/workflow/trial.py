"""Trial: one tuning trial (the Map state fans them out)."""

import json

import numpy as np

from tabflow.ports import ObjectStore, TableStore
from tabflow.training import frame_columns
from tabflow.tuning import cross_validate
from tabflow.workflow.data import load_training_data
from tabflow.workflow.payloads import Json, TrialInput, TrialOutput


def trial(event: TrialInput | Json, *, store: ObjectStore, tables: TableStore) -> TrialOutput:
    """One tuning trial: K-fold cross-validation of one parameter set on the training rows."""
    event = TrialInput.of(event)
    contract, frame, spec, y = load_training_data(event, store, tables)
    x = spec.matrix(frame_columns(spec, frame))
    split = json.loads(store.get(event.split_uri))
    fold_list = [(np.asarray(f), np.asarray(v)) for f, v in split["folds"]]
    result = cross_validate(
        x,
        y,
        spec,
        event.trial.params,
        fold_list,
        seed=contract.training.seed,
        seconds=contract.training.tuning.seconds,
    )
    return TrialOutput(trial=event.trial.trial, params=event.trial.params, **result)
