"""Command line of the offline AWS.

python -m offline_aws serve [--port 4599] [--api-port 3000]   start it, in the foreground
    [--parameter TrainingEngine=batch ...]                      template parameters
python -m offline_aws fire MonitorFunction                      run a scheduled function now
python -m offline_aws demo                                      the end-to-end demo
"""

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path

import boto3


def _root() -> Path:
    here = Path.cwd()
    for p in (here, *here.parents):
        if (p / "template.yaml").exists():
            return p
    sys.exit("template.yaml not found: run from the project folder")


def serve(args: argparse.Namespace) -> int:
    from offline_aws.stack import OfflineStack

    root = _root()
    parameters = _parameters(args.parameter)
    stack = OfflineStack(
        root,
        moto_port=args.port,
        api_port=args.api_port,
        echo_logs=not args.quiet,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        parameters=parameters,
    )
    stack.start()
    dep = stack.deployment
    assert dep
    print(
        f"""
Offline AWS is running (stack {stack.stack_name}).
  AWS endpoint     {stack.endpoint}        (aws --endpoint-url {stack.endpoint} ...)
  API gateway      {stack.api_url}     (header x-api-key: {stack.api_key})
  raw bucket       s3://{stack.ref("RawBucket")}   drop files under incoming/<dataset>/
  lake bucket      s3://{stack.ref("LakeBucket")}
  model bucket     s3://{stack.ref("ModelBucket")}
  registry table   {stack.ref("RegistryTable")}
  state machine    {stack.ref("TrainingStateMachine")}
  training engine  {stack.parameters.get("TrainingEngine", "lambda")}
  routes           {", ".join(f"{r.method} {r.path}" for r in dep.routes)}
  schedules        {", ".join(f"{s.rule}: {s.expression}" for s in dep.schedules)}
  outbox           {stack.state_dir / "outbox"}
  not emulated     {", ".join(dep.skipped) or "nothing"}
Try:
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url {stack.endpoint} s3 cp datasets/telco_churn.csv s3://{stack.ref("RawBucket")}/incoming/telco_churn/
  aws --endpoint-url {stack.endpoint} stepfunctions list-executions --state-machine-arn {stack.ref("TrainingStateMachine")}
  make fire FUNCTION=MonitorFunction
Ctrl-C stops it.""",
        flush=True,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    stack.stop()
    return 0


def fire(args: argparse.Namespace) -> int:
    """Invoke through the running stack's Lambda endpoint, with a Scheduled Event payload."""
    from offline_aws.scheduler import scheduled_event

    state_file = Path(args.state_dir or _root() / ".local") / "stack.json"
    if not state_file.exists():
        sys.exit("the offline AWS is not running: start it with `make local`")
    state = json.loads(state_file.read_text())
    name = state["functions"].get(args.function)
    if name is None:
        sys.exit(f"unknown function {args.function!r}; known: {', '.join(state['functions'])}")
    rule = next((s["rule"] for s in state["schedules"] if s["function"] == name), "manual")
    client = boto3.client(
        "lambda",
        endpoint_url=state["endpoint"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    event = scheduled_event(rule) | {"force": True}
    resp = client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    body = resp["Payload"].read().decode()
    print(json.dumps(json.loads(body), indent=1))
    return 1 if resp.get("FunctionError") else 0


def env_vars(args: argparse.Namespace) -> int:
    """An env-vars file for `sam local invoke/start-api --env-vars`: every function's
    environment from the running offline AWS, reachable from Docker containers."""
    state_file = Path(args.state_dir or _root() / ".local") / "stack.json"
    if not state_file.exists():
        sys.exit("the offline AWS is not running: start it with `make local`")
    state = json.loads(state_file.read_text())
    endpoint = state["endpoint"].replace("127.0.0.1", args.host)
    from offline_aws.deploy import plan

    _, resolver = plan(_root(), state["stack_name"])
    tpl_functions = state["functions"]
    out = {}
    from offline_aws.template import load_template

    tpl = load_template(_root() / "template.yaml")
    globals_env = (
        tpl.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    for logical in tpl_functions:
        props = tpl["Resources"][logical]["Properties"]
        env = {
            **resolver.resolve(globals_env),
            **resolver.resolve((props.get("Environment") or {}).get("Variables", {})),
        }
        env.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=state["region"],
            POWERTOOLS_TRACE_DISABLED="true",
        )
        out[logical] = {k: str(v) for k, v in env.items()}
    print(json.dumps(out, indent=1))
    return 0


def _parameter_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter, e.g. TrainingEngine=batch (repeatable)",
    )


def _parameters(items: list[str]) -> dict[str, str]:
    parameters = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--parameter {item!r}: expected Name=Value")
        parameters[name] = value
    return parameters


def cfn(args: argparse.Namespace) -> int:
    from offline_aws.cfn import transformed

    print(json.dumps(transformed(_root(), _parameters(args.parameter)), indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offline_aws")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="start the offline AWS in the foreground")
    p.add_argument("--port", type=int, default=4599)
    p.add_argument("--api-port", type=int, default=3000)
    p.add_argument("--state-dir", help="where logs, the outbox and stack.json go (default .local)")
    p.add_argument("--quiet", action="store_true", help="do not echo function logs")
    _parameter_option(p)
    p.set_defaults(func=serve)
    p = sub.add_parser("fire", help="run a scheduled function now")
    p.add_argument("function", help="logical id, e.g. MonitorFunction")
    p.add_argument("--state-dir", help="the running stack's state folder (default .local)")
    p.set_defaults(func=fire)
    p = sub.add_parser(
        "env-vars", help="an env-vars file for sam local (Docker) against the offline AWS"
    )
    p.add_argument(
        "--host", default="host.docker.internal", help="how containers reach this machine"
    )
    p.add_argument("--state-dir", help="the running stack's state folder (default .local)")
    p.set_defaults(func=env_vars)
    p = sub.add_parser(
        "cfn", help="print template.yaml as CloudFormation (the SAM transform, offline)"
    )
    _parameter_option(p)
    p.set_defaults(func=cfn)
    p = sub.add_parser("demo", help="run the end-to-end demo on a private offline AWS")
    p.set_defaults(func=lambda a: __import__("offline_aws.demo", fromlist=["main"]).main())
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
