import copy

import pytest

from universality.params import ParamsError, load_params, parse_params


def test_repository_params_are_valid(params):
    assert params.experiment == "toy"
    assert params.model_names() == ("a", "b")
    assert len(params.layer_pairs()) >= 6 and len(params.layers("a")) >= 2 and len(params.layers("b")) >= 3
    assert params.subsets.ranges[-1] == (251, None)


@pytest.mark.parametrize("experiment", ["pythia", "gemma"])
def test_hub_experiments_name_models_saes_and_layers(params_dict, experiment):
    params_dict["experiment"] = experiment
    params = parse_params(params_dict)
    name_a, name_b = params.model_names()
    assert len(params.layer_pairs()) == len(params.layers(name_a)) * len(params.layers(name_b)) >= 25
    for spec in params.models().values():
        assert spec.sae_release and spec.model_name and spec.sae_loader in ("saelens", "sparsify")
    assert params.hook_name(3) == "blocks.3.hook_resid_post"


def test_synthetic_experiment_has_one_layer_per_model(params_dict):
    params_dict["experiment"] = "synthetic"
    assert parse_params(params_dict).layer_pairs() == [(0, 0)]


def test_unknown_key_names_key_and_nearest_valid_name(params_dict):
    params_dict["nulls"]["permutation"] = 10
    with pytest.raises(ParamsError, match=r"unknown key 'nulls.permutation'.*did you mean 'permutations'"):
        parse_params(params_dict)


def test_wrong_type_names_key_and_expected_type(params_dict):
    params_dict["synthetic"]["n_tokens"] = "many"
    with pytest.raises(ParamsError, match=r"synthetic.n_tokens must be int, got str 'many'"):
        parse_params(params_dict)


def test_int_is_accepted_where_float_is_expected(params_dict):
    params_dict["synthetic"]["geometry_noise"] = 1
    assert parse_params(params_dict).synthetic.geometry_noise == 1.0


def test_unknown_experiment_lists_allowed_values(params_dict):
    params_dict["experiment"] = "llama"
    with pytest.raises(ParamsError, match=r"experiment = 'llama' is unknown; allowed: toy, synthetic, pythia, gemma"):
        parse_params(params_dict)


def test_missing_key_is_named(params_dict):
    del params_dict["similarity"]["svcca_variance"]
    with pytest.raises(ParamsError, match=r"missing key\(s\) similarity.svcca_variance"):
        parse_params(params_dict)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("synthetic", "geometry_noise"), 1.5, "geometry_noise must lie in"),
        (("subsets", "ranges"), [[10, 2]], r"subsets.ranges\[0\]"),
        (("similarity", "svcca_variance"), 0.0, "svcca_variance"),
        (("nulls", "permutations"), 0, "permutations must be at least 1"),
        (("extract", "hook"), "blocks.0.hook_resid_post", r"extract.hook must contain '\{layer\}'"),
    ],
)
def test_out_of_range_values_are_refused(params_dict, path, value, message):
    data = copy.deepcopy(params_dict)
    data[path[0]][path[1]] = value
    with pytest.raises(ParamsError, match=message):
        parse_params(data)


def test_missing_file_says_where_to_run(tmp_path):
    with pytest.raises(ParamsError, match="run from the repository root"):
        load_params(tmp_path / "params.yaml")


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("experiment: [unclosed\n")
    with pytest.raises(ParamsError, match="params.yaml is not valid YAML"):
        load_params(path)
