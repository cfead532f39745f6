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
