"""The training workflow's tasks, one module per Step Functions task: prepare -> trial (a Map)
-> train (one branch per candidate) -> select -> evaluate -> promote, and notify.

Each task takes the state machine's JSON state (or its model) and returns its output model
(workflow.payloads), which the handler dumps to the JSON on the wire; data moves through
S3 URIs only (Step Functions payloads are limited to 256 KB). This file imports nothing, so
each function loads only the task it runs."""
