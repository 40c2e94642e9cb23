import copy
from pathlib import Path

import pytest
import yaml

from universality.params import ParamsError, load_params, parse_params

REPO = Path(__file__).resolve().parents[1]


def with_value(params_dict: dict, path: tuple[str, ...], value) -> dict:
    """A copy of the params mapping with the key at `path` set to `value`."""
    data = copy.deepcopy(params_dict)
    section = data
    for key in path[:-1]:
        section = section[key]
    section[path[-1]] = value
    return data


def test_repository_params_are_valid(params):
    assert params.layer_pairs("main") == [(a, b) for a in range(2) for b in range(3)]
    assert params.layer_pairs("planted_related") == [(0, 0)]
    assert params.paper.main == "main" and params.sources["toy_b"].sae.k == 16
    assert params.subsets.ranges[-1] == (251, None)


def test_pretrained_comparisons_validate_and_name_models_saes_and_layers(params_dict):
    extra = yaml.safe_load((REPO / "experiments/pretrained.yaml").read_text())
    for section in ("token_sets", "sources", "comparisons"):
        params_dict[section] |= extra[section]
    params = parse_params(params_dict)
    for name in ("pythia", "gemma"):
        assert len(params.layer_pairs(name)) >= 25
        for side in ("a", "b"):
            source = params.sources[getattr(params.comparisons[name], side)]
            assert source.model.model_name and source.sae.release and source.sae.loader in ("saelens", "sparsify")
    assert params.sources["pythia_70m"].sae.sae_id.format(layer=3) == "layers.3"
    assert params.hook_name(3) == "blocks.3.hook_resid_post"


def test_unknown_key_names_key_and_nearest_valid_name(params_dict):
    params_dict["nulls"]["permutation"] = 10
    with pytest.raises(ParamsError, match=r"unknown key 'nulls.permutation'.*did you mean 'permutations'"):
        parse_params(params_dict)


def test_wrong_type_names_key_and_expected_type(params_dict):
    params_dict["token_sets"]["planted"]["n_tokens"] = "many"
    with pytest.raises(ParamsError, match=r"token_sets.planted.n_tokens must be int, got str 'many'"):
        parse_params(params_dict)


def test_int_is_accepted_where_float_is_expected(params_dict):
    params_dict["sources"]["planted_b_unrelated"]["model"]["geometry_noise"] = 1
    assert parse_params(params_dict).sources["planted_b_unrelated"].model.geometry_noise == 1.0


def test_unknown_kind_lists_allowed_kinds(params_dict):
    params_dict["sources"]["toy_a"]["kind"] = "llama"
    with pytest.raises(ParamsError, match=r"sources.toy_a.kind = 'llama' is unknown; allowed: trained, planted, pretrained"):
        parse_params(params_dict)


def test_a_kind_reads_its_own_schema(params_dict):
    params_dict["sources"]["toy_a"]["model"]["side"] = "a"
    with pytest.raises(ParamsError, match=r"unknown key 'sources.toy_a.model.side'"):
        parse_params(params_dict)


def test_missing_key_is_named(params_dict):
    del params_dict["similarity"]["svcca_variance"]
    with pytest.raises(ParamsError, match=r"missing key\(s\) similarity.svcca_variance"):
        parse_params(params_dict)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("sources", "planted_a", "model", "geometry_noise"), 1.5, "sources.planted_a.model.geometry_noise must lie in"),
        (("sources", "toy_b", "sae", "k"), 0, r"sources.toy_b.sae.k must be in 1..d_sae \(768\)"),
        (("subsets", "ranges"), [[10, 2]], r"subsets.ranges\[0\]"),
        (("similarity", "svcca_variance"), 0.0, "svcca_variance"),
        (("nulls", "permutations"), 0, "permutations must be at least 1"),
        (("nulls", "rsa_paper_max_n"), 3, r"nulls.rsa_paper_max_n must be at least 4"),
        (("nulls", "precision"), "float16", r"nulls.precision = 'float16' is not allowed; expected one of 'float64', 'float32'"),
        (("extract", "hook"), "blocks.0.hook_resid_post", r"extract.hook must contain '\{layer\}'"),
    ],
)
def test_out_of_range_values_are_refused(params_dict, path, value, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(with_value(params_dict, path, value))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("comparisons", "main", "b"), "toy_c", r"comparisons.main.b = 'toy_c' names no entry of sources"),
        (("sources", "toy_a", "tokens"), "books", r"sources.toy_a.tokens = 'books' names no entry of token_sets"),
        (("sources", "toy_a", "tokens"), "planted", r"sources.toy_a is a trained source but token set 'planted' is planted"),
        (("comparisons", "main", "tokens"), "planted", r"comparisons.main is over token set 'planted' but source 'toy_a' reads 'wordnet'"),
        (("paper", "main"), "mian", r"paper.main = 'mian' names no entry of comparisons"),
    ],
)
def test_names_that_refer_to_nothing_are_refused(params_dict, path, value, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(with_value(params_dict, path, value))


def test_a_name_may_not_be_both_a_source_and_a_comparison(params_dict):
    params_dict["comparisons"]["toy_a"] = {"a": "toy_a", "b": "toy_b", "tokens": "wordnet"}
    with pytest.raises(ParamsError, match=r"\['toy_a'\] name both a source and a comparison"):
        parse_params(params_dict)


def test_missing_file_says_where_to_run(tmp_path):
    with pytest.raises(ParamsError, match="run from the repository root"):
        load_params(tmp_path / "params.yaml")


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("token_sets: [unclosed\n")
    with pytest.raises(ParamsError, match="params.yaml is not valid YAML"):
        load_params(path)
