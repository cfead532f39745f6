"""`contract infer FILE > datasets/NAME.yaml`: draft a contract from a sample file;
`contract check CONTRACT [--sample FILE]`: validate a contract, and try it on a file."""

import argparse
import re
import sys
from pathlib import Path

from tabflow.errors import ContractError, SchemaError


def contract_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="contract", description="Dataset contract tools")
    sub = parser.add_subparsers(dest="command", required=True)
    infer = sub.add_parser("infer", help="draft a contract (YAML on stdout) from a sample file")
    infer.add_argument("file", type=Path)
    infer.add_argument("--dataset", help="dataset name (default: the file name)")
    infer.add_argument("--target", help="the column to predict (default: guessed)")
    infer.add_argument("--positive", help="the target value that is positive (e.g. Yes)")
    infer.add_argument("--id", dest="id_column", help="the row identifier column")
    check = sub.add_parser("check", help="validate a contract file")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--sample", type=Path, help="a data file: ingest it and resolve the target with it"
    )
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args.file, args.sample)

    from tabflow.contract_draft import draft_contract

    name = args.file.name
    stem = re.sub(r"[^a-z0-9_-]+", "_", name.split(".")[0].lower()).strip("_-") or "dataset"
    try:
        text = draft_contract(
            args.file.read_bytes(),
            name=name,
            dataset=args.dataset or stem[:63],
            target=args.target,
            positive=args.positive,
            id_column=args.id_column,
        )
    except (SchemaError, ContractError, ValueError, OSError) as exc:
        print(f"contract infer: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def _check(path: Path, sample: Path | None) -> int:
    """Exit 1 when the contract is invalid, or when the sample would be rejected, or its
    target does not resolve: a binary one to exactly two classes with rows for the positive
    label, a multiclass one to 3 to 50 classes with min_class_rows rows each (or merged)."""
    from tabflow.contract import parse_contract

    try:
        contract = parse_contract(path.read_text(), source=str(path))
    except (ContractError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{path}: valid contract for {contract.dataset!r} ({len(contract.columns)} columns)")
    if sample is None:
        return 0
    from tabflow.readers import read_table
    from tabflow.targets import resolve_target
    from tabflow.validation import map_headers, validate

    try:
        raw = read_table(sample.read_bytes(), name=sample.name)
        result = validate(raw, contract, file=sample.name)
    except (SchemaError, OSError) as exc:
        print(f"{sample}: {exc}", file=sys.stderr)
        return 1
    c = result.counts
    print(
        f"{sample}: {c['rows_in']} rows -> {c['curated']} curated, {c['quarantined']} "
        f"quarantined, {c['duplicates']} duplicates"
    )
    for warning in result.warnings:
        print(f"{sample}: warning: {warning}")
    failed = False
    if result.bad_share > contract.max_bad_row_share:
        top = list(result.quarantined.reason_counts().items())[:5]
        print(
            f"{sample}: {result.bad_share:.1%} of the rows are bad, above max_bad_row_share "
            f"{contract.max_bad_row_share}: ingest would reject the file ("
            + ", ".join(f"{k} x{n}" for k, n in top)
            + ")",
            file=sys.stderr,
        )
        failed = True
    target = contract.target.column
    header = next(
        (h for h, n in map_headers(raw.columns, contract, file="").items() if n == target)
    )
    column = raw.table.column(raw.columns.index(header)).to_pylist()
    seen = resolve_target(contract, column)
    curated = resolve_target(contract, result.curated[target].tolist())
    if curated.errors or seen.errors:
        print(f"{sample}: {(curated if curated.errors else seen).message()}", file=sys.stderr)
        return 1
    print(f"{sample}: {seen.message()}")
    print(f"{sample}: training would see {curated.summary()}")
    return 1 if failed else 0


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
