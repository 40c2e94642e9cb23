"""Command line: `python -m universality STAGE [NAME]` runs one pipeline stage (see dvc.yaml) or a command.

Stage modules are imported only when their stage runs, so that a stage's code is its own
module and what that module imports (the dependencies dvc.yaml declares for it).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import re
import sys
from pathlib import Path

from universality import layout
from universality.errors import InputError
from universality.params import Params, load_params

# stage -> (what NAME is: the params.yaml section it names, or None for a single stage; help)
STAGES = {
    "tokens": ("token_sets", "build one token set into data/tokens/NAME/"),
    "model": ("models", "build one model into data/models/NAME/"),
    "saes": ("sources", "build one SAE per layer of a source into data/NAME/saes/"),
    "extract": ("sources", "encode a source's activations with its SAEs (the GPU stage)"),
    "pair": ("comparisons", "pair, filter and size the 1-1 rules of a comparison"),
    "main_one_to_one": ("comparisons", "score a comparison's 1-1 pairs with their nulls (main body)"),
    "appendix_buckets": ("comparisons", "score a comparison's multiplicity buckets (appendix)"),
    "collapse": ("comparisons", "why a comparison's scores rise as pairs become one-to-one (matched n, deduplication, r strata, hubs)"),
    "sensitivity": ("comparisons", "a comparison's 1-1 scores under every 1-1 rule, direction, filter setting and token prefix"),
    "subspaces": ("comparisons", "a comparison's token-identity control and semantic-category grid"),
    "calibration": (None, "the main comparison against its skyline, floor, other seeds and shuffled windows"),
    "render": (None, "tables, number macros and figures of the comparisons `paper` names"),
    "paper": (None, "build paper/main.pdf with latexmk"),
    "verify": (None, "check the built paper/main.pdf against the results (make verify)"),
    "check-cache": (None, "verify the cached artifacts in this workspace against results/manifest/ (make check-cache)"),
    "anonymous-artifact": (None, "write the double-blind archive: no git history, remote URLs or author names (make anonymous-artifact)"),
}
COMMANDS = ("verify", "check-cache", "anonymous-artifact")  # universality.commands: not DVC stages, they write no stage output
OUTPUT_ERRORS = {  # writing an output failed for a reason outside the pipeline: one line, no traceback
    errno.ENOSPC: "no space left on the device; free some and rerun",
    errno.EFBIG: "file too large for this process's file size limit (ulimit -f); raise it and rerun",
    errno.EDQUOT: "disk quota exceeded; free some and rerun",
    errno.EROFS: "the file system is read-only; make it writable and rerun",
    errno.EACCES: "permission denied; make it writable (or run as its owner) and rerun",
    errno.EPERM: "operation not permitted (an immutable file?); make it writable (`chattr -i`) and rerun",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m universality",
        description="Stages of the SAE-universality pipeline. Normally run through `dvc repro`.",
    )
    commands = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (section, summary) in STAGES.items():
        command = commands.add_parser(name, help=summary, description=summary)
        if section is not None:
            command.add_argument("name", metavar="NAME", help=f"an entry of params.yaml `{section}`")
        command.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    commands.add_parser("check-params", help="validate params.yaml and exit").add_argument("--params", default="params.yaml")
    return parser


def execute(stage: str, name: str | None, params: Params) -> None:
    """Run stage instance `stage@name`: check its inputs, compute, and record what it wrote."""
    import torch

    from universality import devices, io, numerics
    from universality.artifacts import manifest, provenance

    devices.check_present(params)
    # Multi-threaded CPU training is not bitwise reproducible by default (measured: two runs
    # of the toy models differed in the third decimal of the loss), and neither are some CUDA
    # kernels; deterministic kernels are. The other stages run on one pinned CPU thread, where
    # torch's kernels are deterministic already and the switch (which loads torch's compiler, 1.5 s) buys nothing.
    if stage in numerics.TRAINING_STAGES or torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)
    if stage in COMMANDS:
        importlib.import_module(f"universality.commands.{stage.replace('-', '_')}").run(params)
        return
    module = importlib.import_module(f"universality.stages.{stage}")
    instance = layout.stage_instance(stage, name)
    outputs = provenance.declared_outputs(stage, name, params)
    with io.exclusive(outputs[0], instance):
        for problem in filter(None, map(io.writable_problem, outputs)):
            raise InputError(f"{problem}, then rerun {instance} (nothing was computed)")
        output = layout.output_folder(stage, name)
        if output is not None:
            for leftover in io.remove_leftovers(output):
                logging.getLogger(__name__).info("removed %s, left by an interrupted run", leftover)
        run = provenance.check_inputs(stage, name, params)
        with provenance.running(run):
            module.run(params) if name is None else module.run(params, name)
        manifest.write_record(stage, name)


def _error_number(err: OSError) -> int | None:
    """The errno of `err`, also where a library (pyarrow) raised an OSError with it only in the message."""
    found = re.search(r"\[Errno (\d+)\]", str(err))
    return err.errno if err.errno is not None else int(found.group(1)) if found else None


def check_checkout(checkout: Path) -> None:
    """Refuse to run code other than `checkout`'s own: a virtual environment copied from another checkout imports that
    one's src/ (its editable install), which may differ."""
    imported = Path(__file__).resolve().parent
    here = (checkout / "src" / "universality").resolve()
    if not here.is_dir() or here == imported:
        return
    modules = sorted(path.relative_to(here) for path in here.rglob("*.py"))
    if modules != sorted(path.relative_to(imported) for path in imported.rglob("*.py")) or any(
        (here / module).read_bytes() != (imported / module).read_bytes() for module in modules
    ):
        raise InputError(f"python imports universality from {imported.parent.parent}, whose code differs from this checkout's "
                         f"({checkout}): the virtual environment was copied from there; run `make setup` here, which points it here")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        check_checkout(Path.cwd())
        params = load_params(args.params)
        if args.stage == "check-params":
            from universality import devices

            devices.check_present(params)
            print(
                f"{args.params} is valid: comparisons {', '.join(f'{n} ({len(params.layer_pairs(n))} layer pairs)' for n in params.comparisons)}"
            )
            return
        section = STAGES[args.stage][0]
        if section is not None and args.name not in getattr(params, section):
            sys.exit(f"error: {args.name!r} is not an entry of params.yaml `{section}` ({', '.join(getattr(params, section))})")
        execute(args.stage, None if section is None else args.name, params)
    except (InputError, FileNotFoundError) as err:  # bad or missing input: the message names it and the command that fixes it
        sys.exit(f"error: {err}")
    except OSError as err:
        number = _error_number(err)
        if number not in OUTPUT_ERRORS:
            raise
        from universality.io import TEMPORARY_SUFFIX

        output = layout.output_folder(args.stage, getattr(args, "name", None))  # a file in its staging folder: name the set
        where = err.filename if err.filename and TEMPORARY_SUFFIX not in str(err.filename) else output or err.filename or args.stage
        sys.exit(f"error: {where}: {OUTPUT_ERRORS[number]} (an output folder is replaced only once complete)")
