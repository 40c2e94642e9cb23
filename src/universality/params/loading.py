"""Load params.yaml and check it against the schema, with messages that name the key and the fix.

Loading stops on a YAML anchor, a key given twice, an unknown key (naming the nearest valid one), a missing
key, a wrong type, a number outside the range its schema type allows (`schema.Range`, stated
in the message), overlapping multiplicity ranges, or a name that refers to nothing (a
comparison's source, a source's token set), and says which key to change.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from universality.errors import InputError
from universality.layout import RESERVED_RESULTS
from universality.params.schema import Params, Range


class ParamsError(InputError, ValueError):
    """params.yaml does not match the schema; the message names the key and the fix."""


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _Alias(yaml.MarkedYAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (YAML keeps the last silently)
    and so is an anchor (`&name`): `dvc exp run -S` rewrites params.yaml with its aliases expanded and its merges
    resolved, so a value shared through an anchor would not change where the override says."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        anchor = self.peek_event().anchor
        if anchor is not None:
            raise _Alias(None, None, f"&{anchor} shares a value through a YAML anchor, which `dvc exp run -S` does not "
                         "change where it says: write the value out in every entry that uses it", self.peek_event().start_mark)  # fmt: skip
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise _DuplicateKey(None, None, f"key {key!r} is given twice in one mapping (first on line {seen[key]}); "
                                    "YAML would keep the last one silently: delete one", key_node.start_mark)  # fmt: skip
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _kind_of(choices: list[type], value: Any, key: str) -> type:
    """The dataclass among `choices` whose `kind` literal matches value['kind']."""
    kinds = {typing.get_args(typing.get_type_hints(c)["kind"])[0]: c for c in choices}
    kind = value.get("kind") if isinstance(value, dict) else None
    if kind not in kinds:
        raise ParamsError(f"params.yaml: {key}.kind = {kind!r} is unknown; allowed: {', '.join(kinds)}")
    return kinds[kind]


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        value = _convert(value, args[0], key)
        for bound in (a for a in args[1:] if isinstance(a, Range)):
            if not bound.contains(value):
                raise ParamsError(f"params.yaml: {key} = {value!r} is out of range; allowed: {bound.describe(key)}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(typing.cast(type, tp), value, key)  # a type hint: the dataclass itself, never an instance
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) > 1:
            return _build(_kind_of(inner, value, key), value, key)
        return _convert(value, inner[0], key)
    if origin is Literal:
        if value not in args:
            raise ParamsError(f"params.yaml: {key} = {value!r} is not allowed; expected {_describe(tp)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"params.yaml: {key} must be a list, got {type(value).__name__} {value!r}")
        return [_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list) or len(value) != len(args):
            raise ParamsError(f"params.yaml: {key} must be a list of {len(args)} items, got {value!r}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is dict:
        if not isinstance(value, dict) or not value:
            raise ParamsError(f"params.yaml: {key} must be a non-empty mapping, got {value!r}")
        return {str(k): _convert(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ParamsError(f"params.yaml: {key} must be {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix or "the top level"
    if not isinstance(data, dict):
        raise ParamsError(f"params.yaml: {where} must be {_describe(cls)}, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            full = f"{prefix}.{key}" if prefix else str(key)
            raise ParamsError(f"params.yaml: unknown key {full!r}{hint} Allowed keys here: {', '.join(names)}")
    missing = [n for n in names if n not in data]
    if missing:
        full = ", ".join(f"{prefix}.{n}" if prefix else n for n in missing)
        raise ParamsError(f"params.yaml: missing key(s) {full}")
    return cls(**{n: _convert(data[n], hints[n], f"{prefix}.{n}" if prefix else n) for n in names})


def _check_names(params: Params) -> None:
    for name, model in params.models.items():
        token_set = params.token_sets.get(model.tokens)
        if token_set is None:
            raise ParamsError(
                f"params.yaml: models.{name}.tokens = {model.tokens!r} names no entry of token_sets ({', '.join(params.token_sets)})"
            )
        if token_set.kind != model.kind:
            raise ParamsError(
                f"params.yaml: models.{name} is a {model.kind} model but token set {model.tokens!r} is {token_set.kind}; use a {model.kind} token set"
            )
    for name, source in params.sources.items():
        model = params.models.get(source.model)
        if model is None:
            raise ParamsError(f"params.yaml: sources.{name}.model = {source.model!r} names no entry of models ({', '.join(params.models)})")
        if model.kind != source.kind and (source.kind, model.kind) != ("trained", "pretrained"):
            raise ParamsError(
                f"params.yaml: sources.{name} is a {source.kind} source but model {source.model!r} is {model.kind}; "
                f"use a {source.kind} model (SAEs trained here may also sit on a pretrained one)"
            )
        if source.tokens != model.tokens:
            raise ParamsError(
                f"params.yaml: sources.{name}.tokens = {source.tokens!r} but its model {source.model!r} reads {model.tokens!r}; set them equal"
            )
    for name, comparison in params.comparisons.items():
        for side in ("a", "b"):
            source = getattr(comparison, side)
            if source not in params.sources:
                raise ParamsError(
                    f"params.yaml: comparisons.{name}.{side} = {source!r} names no entry of sources ({', '.join(params.sources)})"
                )
            if params.sources[source].tokens != comparison.tokens:
                raise ParamsError(
                    f"params.yaml: comparisons.{name} is over token set {comparison.tokens!r} but source {source!r} reads "
                    f"{params.sources[source].tokens!r}; both sources of a comparison must read its token set"
                )
        if comparison.sensitivity and comparison.shuffle_seed is not None:
            raise ParamsError(
                f"params.yaml: comparisons.{name} shuffles B's windows and asks for the sensitivity grid; set sensitivity: false (the grid re-pairs aligned tokens)"
            )
    quoted = [params.paper.main, *params.paper.replicates]
    repeated = sorted({name for name in quoted if quoted.count(name) > 1})
    if repeated:
        raise ParamsError(f"params.yaml: paper.replicates repeats {', '.join(repeated)} (with paper.main {params.paper.main!r}); "
                          "each run may be counted once: list every replicate once, other than the main comparison")  # fmt: skip
    runs = {name: (comparison.a, comparison.b) for name in quoted if (comparison := params.comparisons.get(name))}
    for first, second in itertools.combinations(runs, 2):
        if runs[first] == runs[second]:
            raise ParamsError(f"params.yaml: paper quotes comparisons {first!r} and {second!r} as two runs, but both pair sources "
                              f"{runs[first][0]!r} and {runs[first][1]!r}: a replicate needs sources of its own")  # fmt: skip
    for role, name in params.paper.named().items():
        if name not in params.comparisons:
            raise ParamsError(f"params.yaml: paper.{role} = {name!r} names no entry of comparisons ({', '.join(params.comparisons)})")
    if params.skyline_side() is None:
        main = params.comparisons[params.paper.main]
        models = " or ".join(params.sources[side].model for side in (main.a, main.b))
        raise ParamsError(
            f"params.yaml: paper.skyline = {params.paper.skyline!r} must pair one model of {params.paper.main!r} ({models}) with itself"
        )
    reserved = set(RESERVED_RESULTS)
    clashes = sorted((set(params.sources) & set(params.comparisons)) | (reserved & (set(params.sources) | set(params.comparisons))))
    if clashes:
        raise ParamsError(
            f"params.yaml: {clashes} name two of: a source, a comparison, a reserved folder ({', '.join(RESERVED_RESULTS)}); "
            "results/<name>/ must be unambiguous: rename one"
        )


def _check_values(params: Params) -> None:
    """What a single key's range cannot say: values that must agree with each other."""
    for name, tokens in params.token_sets.items():
        if tokens.kind == "planted" and not tokens.firing_min_prob < tokens.firing_max_prob:
            raise ParamsError(f"params.yaml: token_sets.{name}.firing_min_prob must be below firing_max_prob")
    for name, model in params.models.items():
        if model.kind == "trained" and model.d_model % model.n_heads:
            raise ParamsError(f"params.yaml: models.{name}.d_model ({model.d_model}) must be a multiple of n_heads ({model.n_heads})")
        if model.kind == "trained" and (
            not model.layers or len(set(model.layers)) < len(model.layers) or max(model.layers) >= model.n_layers
        ):
            raise ParamsError(f"params.yaml: models.{name}.layers = {model.layers} must list distinct layers in 0..{model.n_layers - 1} "
                              f"(n_layers {model.n_layers}), at least one")  # fmt: skip
        if model.kind == "planted" and model.d_model < params.token_sets[model.tokens].d_world:
            raise ParamsError(f"params.yaml: models.{name}.d_model ({model.d_model}) must be at least token_sets.{model.tokens}.d_world "
                              f"({params.token_sets[model.tokens].d_world}): the shared directions must fit")  # fmt: skip
    for name, source in params.sources.items():
        if source.kind != "pretrained" and not source.sae.k <= source.sae.d_sae:
            raise ParamsError(f"params.yaml: sources.{name}.sae.k must be in 1..d_sae ({source.sae.d_sae})")
        if source.kind == "trained":
            training = source.sae.training
            if training.training_tokens < training.batch_size:
                raise ParamsError(
                    f"params.yaml: sources.{name}.sae.training: training_tokens ({training.training_tokens}) must be at least "
                    f"batch_size ({training.batch_size}); raise training_tokens or lower batch_size"
                )
    for key, choice in (("pairing.device", params.pairing.device), ("nulls.device", params.nulls.device)):
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", choice):
            raise ParamsError(f"params.yaml: {key} = {choice!r} is not a device; allowed: auto, cpu, cuda, cuda:N")
    if "{layer}" not in params.extract.hook:
        raise ParamsError(f"params.yaml: extract.hook must contain '{{layer}}', got {params.extract.hook!r}")
    try:
        params.extract.hook.format(layer=0)
    except (KeyError, IndexError, ValueError) as err:
        raise ParamsError(f"params.yaml: extract.hook = {params.extract.hook!r} has a placeholder other than {{layer}} ({err}); "
                          "write the rest of the hook name out, e.g. blocks.{layer}.hook_resid_post") from err  # fmt: skip
    strata = params.collapse.r_strata
    if len(strata) < 2 or any(lo >= hi for lo, hi in itertools.pairwise(strata)):
        raise ParamsError(f"params.yaml: collapse.r_strata must be at least two increasing correlations, got {strata}")
    grid = params.sensitivity
    if not grid.min_correlations or not grid.non_concept_top_k or not grid.token_fractions:
        raise ParamsError("params.yaml: sensitivity.min_correlations, non_concept_top_k and token_fractions each need at least one value")
    subspaces = params.subspaces
    categories = subspaces.lexnames if subspaces.rule == "lexname" else list(subspaces.word_lists or {})
    if not categories:
        raise ParamsError(
            f"params.yaml: subspaces.rule is {subspaces.rule} but subspaces.{'lexnames' if subspaces.rule == 'lexname' else 'word_lists'} is empty; list the categories"
        )
    _check_ranges(params.subsets.ranges)


def _check_ranges(ranges: list[tuple[int, int | None]]) -> None:
    """Multiplicity ranges: each lo <= hi, and no multiplicity in two of them (a pair would be scored in both buckets)."""
    for i, (lo, hi) in enumerate(ranges):
        if hi is not None and hi < lo:
            raise ParamsError(f"params.yaml: subsets.ranges[{i}] = [{lo}, {hi}] is not a range lo <= hi")
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    for i, j in itertools.pairwise(order):
        hi = ranges[i][1]
        if hi is None or hi >= ranges[j][0]:
            raise ParamsError(f"params.yaml: subsets.ranges[{i}] = {list(ranges[i])} and subsets.ranges[{j}] = {list(ranges[j])} overlap; "
                              "make each multiplicity fall in one range")  # fmt: skip


def parse_params(data: Any) -> Params:
    """Validate a params mapping (as read from YAML) and return typed Params."""
    params = _build(Params, data, "")
    _check_names(params)
    _check_values(params)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run from the repository root, where params.yaml lives")
    try:
        with path.open(encoding="utf-8") as stream:  # the stream's name puts the file into YAML's messages
            data = yaml.load(stream, Loader=_UniqueKeyLoader)
    except _Alias as err:
        raise ParamsError(f"{path}: {err}") from err
    except yaml.YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {err}") from err
    return parse_params(data)
