"""`contract infer FILE > datasets/NAME.yaml`: draft a contract from a sample file."""

import argparse
import sys
from pathlib import Path

from tabflow.errors import SchemaError


def contract_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="contract", description="Dataset contract tools")
    sub = parser.add_subparsers(dest="command", required=True)
    infer = sub.add_parser("infer", help="draft a contract (YAML on stdout) from a sample file")
    infer.add_argument("file", type=Path)
    infer.add_argument("--dataset", help="dataset name (default: the file name)")
    infer.add_argument("--target", help="the column to predict (default: guessed)")
    check = sub.add_parser("check", help="validate a contract file")
    check.add_argument("file", type=Path)
    args = parser.parse_args(argv)

    if args.command == "check":
        from tabflow.contract import parse_contract
        from tabflow.errors import ContractError

        try:
            contract = parse_contract(args.file.read_text(), source=str(args.file))
        except ContractError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(
            f"{args.file}: valid contract for {contract.dataset!r} ({len(contract.columns)} columns)"
        )
        return 0

    from tabflow.inference import infer_contract

    name = args.file.name
    dataset = args.dataset or name.split(".")[0].lower().replace(" ", "_")
    try:
        text = infer_contract(
            args.file.read_bytes(), name=name, dataset=dataset, target=args.target
        )
    except (SchemaError, ValueError) as exc:
        print(f"contract infer: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def registry_main(argv: list[str] | None = None) -> int:
    """`registry list DATASET` / `registry rollback DATASET VERSION` against the registry
    table (REGISTRY_TABLE; AWS_ENDPOINT_URL for the offline AWS). A rollback first loads and
    verifies the target as the API would (files, sha256, a probe prediction) and refuses one
    that does not load; the pointer then moves by conditional write."""
    import os

    from tabflow.adapters.dynamodb import DynamoRegistry
    from tabflow.errors import ConcurrentUpdate, ModelLoadError, ModelNotFound

    parser = argparse.ArgumentParser(prog="registry", description="Model registry")
    parser.add_argument(
        "--table", default=os.environ.get("REGISTRY_TABLE"), help="registry table name"
    )
    parser.add_argument(
        "--model-bucket",
        default=os.environ.get("MODEL_BUCKET"),
        help="the model bucket a version's files must be in (default: its model file's)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="versions of a dataset, the champion marked")
    listing.add_argument("dataset")
    back = sub.add_parser("rollback", help="make an earlier version the champion again")
    back.add_argument("dataset")
    back.add_argument("version", type=int)
    args = parser.parse_args(argv)
    if not args.table:
        parser.error("--table or REGISTRY_TABLE is required")
    registry = DynamoRegistry(args.table)
    current = registry.champion(args.dataset)
    if args.command == "list":
        for v in registry.list_versions(args.dataset):
            mark = "*" if current and v.version == current.version else " "
            print(
                f"{mark} v{v.version}  {v.kind:<8}  AUC {v.metrics.get('auc')}  {v.created_at:%Y-%m-%d %H:%M}  run {v.run_id}"
            )
        return 0
    from tabflow.adapters.s3 import S3Store
    from tabflow.serving.cache import load_version

    try:
        target = registry.get_version(args.dataset, args.version)
        load_version(S3Store(), target, model_bucket=args.model_bucket)
        registry.set_champion(
            args.dataset, target.version, expected=current.version if current else None
        )
    except ModelLoadError as exc:
        print(f"registry rollback: refused, the target does not load: {exc}", file=sys.stderr)
        return 1
    except (ModelNotFound, ConcurrentUpdate) as exc:
        print(f"registry rollback: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.dataset}: champion is now v{target.version} (was v{current.version if current else None})"
    )
    return 0
