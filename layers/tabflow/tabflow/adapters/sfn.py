"""Workflow on AWS Step Functions."""

import json
from typing import Any

from tabflow.adapters.clients import client


class StepFunctionsWorkflow:
    def __init__(self, state_machine_arn: str, sfn: Any | None = None) -> None:
        self._arn = state_machine_arn
        self._sfn = sfn or client("stepfunctions")

    def start(self, name: str, payload: dict[str, Any]) -> str:
        try:
            return self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload)
            )["executionArn"]
        except self._sfn.exceptions.ExecutionAlreadyExists:
            # The same event delivered twice: the run exists already; report it, start nothing.
            arn = self._arn.replace(":stateMachine:", ":execution:") + ":" + name
            return arn
