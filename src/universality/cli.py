"""Command line: `python -m universality STAGE` runs one pipeline stage (see dvc.yaml)."""

from __future__ import annotations

import argparse
import logging
import sys

import torch

from universality import stages
from universality.params import ParamsError, load_params

STAGES = {
    "tokens": stages.tokens,
    "models": stages.models,
    "saes": stages.saes,
    "extract": stages.extract,
    "pair": stages.pair,
    "main_one_to_one": stages.main_one_to_one,
    "appendix_buckets": stages.appendix_buckets,
    "render": stages.render,
    "paper": stages.paper,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m universality",
        description="Stages of the SAE-universality pipeline. Normally run through `dvc repro`.",
    )
    commands = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, function in STAGES.items():
        command = commands.add_parser(name, help=function.__doc__.splitlines()[0], description=function.__doc__)
        command.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    commands.add_parser("check-params", help="validate params.yaml and exit").add_argument("--params", default="params.yaml")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        params = load_params(args.params)
    except ParamsError as err:
        sys.exit(f"error: {err}")
    if args.stage in STAGES:
        # Multi-threaded CPU training is not bitwise reproducible by default (measured: two runs
        # of the toy models differed in the third decimal of the loss); deterministic kernels are.
        torch.use_deterministic_algorithms(True, warn_only=True)
        STAGES[args.stage](params)
    else:
        print(f"{args.params} is valid: experiment {params.experiment!r}, layer pairs {params.layer_pairs()}")
