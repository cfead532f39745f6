"""Select: join the candidates trained in parallel and choose one on the validation rows."""

import math
from collections.abc import Sequence

from tabflow.ports import ObjectStore
from tabflow.workflow.common import collect_results
from tabflow.workflow.payloads import CandidateOutput, JobResult, Json, Selection


def select(results: Sequence[CandidateOutput | JobResult | Json], store: ObjectStore) -> Selection:
    """Join the parallel candidates and choose one on the validation rows (never the test)."""
    by_name = {
        r.name: r for r in (CandidateOutput.of(item) for item in collect_results(results, store))
    }
    lgbm = by_name["lightgbm"]
    candidates = {name: r.candidate() for name, r in by_name.items()}
    if lgbm.task == "regression":
        rmse = {
            n: math.inf if (v := c.validation["rmse"]) is None else v for n, c in candidates.items()
        }
        chosen = min(rmse, key=rmse.__getitem__)
    else:
        chosen = max(candidates, key=lambda n: candidates[n].validation["auc"] or 0.0)
    assert lgbm.spec_uri is not None and lgbm.importance is not None  # the run's describer
    # the rest of the selection is what the run's describer (LightGBM) wrote of the run
    run = ("spec_uri", "split_uri", "split", "tuning", "importance", "rows", "baseline")
    return Selection(candidates=candidates, chosen=chosen, **{f: getattr(lgbm, f) for f in run})
