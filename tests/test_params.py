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
    assert params.layer_pairs("main") == [(1, 1), (1, 2)]  # A's layer 1 with B's layers 1 and 2 (models.<m>.layers)
    assert params.layer_pairs("planted_related") == [(0, 0)]
    assert params.paper.main == "main" and params.sources["toy_b"].sae.k == 32 and params.subsets.one_to_one == "assignment"
    assert params.subsets.ranges[-1] == (16, None)


def test_pretrained_comparisons_validate_and_name_models_saes_and_layers(params_dict):
    extra = yaml.safe_load((REPO / "experiments/pretrained.yaml").read_text())
    for section in ("token_sets", "models", "sources", "comparisons"):
        params_dict[section] |= extra[section]
    params_dict["subspaces"] = extra["subspaces"]
    params = parse_params(params_dict)
    assert params.subspaces.rule == "word_lists" and len(params.subspaces.word_lists) >= 5
    for name in ("pythia", "gemma"):
        assert len(params.layer_pairs(name)) >= 25
        for side in ("a", "b"):
            source = getattr(params.comparisons[name], side)
            assert params.model_of(source).model_name and params.sources[source].sae.release
            assert params.sources[source].sae.loader in ("saelens", "sparsify")
    assert params.sources["pythia_70m"].sae.sae_id.format(layer=3) == "layers.3"
    assert params.model_of("pythia_160m_step0").checkpoint == 0 and params.sources["pythia_160m_step0"].kind == "trained"
    assert params.layer_pairs("pythia_skyline") == [(layer, layer) for layer in range(6)]
    assert params.sources["gemma_2_2b_65k"].model == params.sources[params.comparisons["gemma"].b].model  # skyline on side B
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
    params_dict["models"]["planted_b_unrelated"]["geometry_noise"] = 1
    assert parse_params(params_dict).models["planted_b_unrelated"].geometry_noise == 1.0


def test_unknown_kind_lists_allowed_kinds(params_dict):
    params_dict["sources"]["toy_a"]["kind"] = "llama"
    with pytest.raises(ParamsError, match=r"sources.toy_a.kind = 'llama' is unknown; allowed: trained, planted, pretrained"):
        parse_params(params_dict)


def test_a_kind_reads_its_own_schema(params_dict):
    params_dict["models"]["toy_a"] = params_dict["models"]["toy_a"] | {"side": "a"}
    with pytest.raises(ParamsError, match=r"unknown key 'models.toy_a.side'"):
        parse_params(params_dict)


def test_missing_key_is_named(params_dict):
    del params_dict["similarity"]["svcca_variance"]
    with pytest.raises(ParamsError, match=r"missing key\(s\) similarity.svcca_variance"):
        parse_params(params_dict)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("models", "planted_a", "geometry_noise"),
            1.5,
            r"models.planted_a.geometry_noise = 1.5 is out of range; allowed: 0 <= models.planted_a.geometry_noise <= 1",
        ),
        (("models", "toy_b", "n_heads"), 5, r"models.toy_b.d_model \(96\) must be a multiple of n_heads \(5\)"),
        (("sources", "toy_b", "sae", "k"), 1100, r"sources.toy_b.sae.k must be in 1..d_sae \(1024\)"),
        (
            ("sources", "toy_a_r2", "sae", "training"),
            {
                "training_tokens": 1000,
                "batch_size": 8192,
                "lr": 0.001,
                "lr_decay_fraction": 0.0,
                "dead_window": 10,
                "activation_store": "memory",
            },
            r"sources.toy_a_r2.sae.training: training_tokens \(1000\) must be at least batch_size \(8192\)",
        ),
        (("subsets", "ranges"), [[10, 2]], r"subsets.ranges\[0\] = \[10, 2\] is not a range lo <= hi"),
        (("subsets", "ranges"), [[1, 1], [2, 10], [5, 20]], r"subsets.ranges\[1\] = \[2, 10\] and subsets.ranges\[2\] = \[5, 20\] overlap"),
        (
            ("subsets", "ranges"),
            [[11, None], [1, 10], [20, 30]],
            r"subsets.ranges\[0\] = \[11, None\] and subsets.ranges\[2\] = \[20, 30\] overlap",
        ),
        (("filters", "min_correlation"), 2, r"filters.min_correlation = 2.0 is out of range; allowed: -1 <= filters.min_correlation < 1"),
        (("hubs", "count"), -1, r"hubs.count = -1 is out of range; allowed: 1 <= hubs.count"),
        (("filters", "non_concept", "top_k"), 0, r"filters.non_concept.top_k = 0 is out of range; allowed: 1 <= filters.non_concept.top_k"),
        (("models", "toy_a", "n_layers"), 0, r"models.toy_a.n_layers = 0 is out of range; allowed: 1 <= models.toy_a.n_layers"),
        (("models", "toy_b", "layers"), [1, 3], r"models.toy_b.layers = \[1, 3\] must list distinct layers in 0..2 \(n_layers 3\)"),
        (("models", "toy_b", "layers"), [], r"models.toy_b.layers = \[\] must list distinct layers"),
        (("extract", "batch_windows"), 0, r"extract.batch_windows = 0 is out of range"),
        (("extract", "chunk_windows"), -5, r"extract.chunk_windows = -5 is out of range"),
        (("pairing", "chunk_size"), 0, r"pairing.chunk_size = 0 is out of range"),
        (("pairing", "token_chunk"), -1, r"pairing.token_chunk = -1 is out of range"),
        (("sources", "toy_a", "sae", "training", "batch_size"), 0, r"sources.toy_a.sae.training.batch_size = 0 is out of range"),
        (("nulls", "ci_level"), 1.0, r"nulls.ci_level = 1.0 is out of range; allowed: 0 < nulls.ci_level < 1"),
        (("nulls", "seed"), -3, r"nulls.seed = -3 is out of range; allowed: 0 <= nulls.seed"),
        (("nulls", "device"), "gpu", r"nulls.device = 'gpu' is not a device; allowed: auto, cpu, cuda, cuda:N"),
        (("collapse", "min_lift"), float("nan"), r"collapse.min_lift = nan is out of range; allowed: 1 <= collapse.min_lift"),
        (("models", "planted_a", "d_model"), 40, r"models.planted_a.d_model \(40\) must be at least token_sets.planted.d_world \(48\)"),
        (
            ("similarity", "svcca_variance"),
            0.0,
            r"similarity.svcca_variance = 0.0 is out of range; allowed: 0 < similarity.svcca_variance <= 1",
        ),
        (("nulls", "permutations"), 0, r"nulls.permutations = 0 is out of range; allowed: 1 <= nulls.permutations"),
        (("nulls", "rsa_paper_max_n"), 3, r"nulls.rsa_paper_max_n = 3 is out of range; allowed: 4 <= nulls.rsa_paper_max_n"),
        (("nulls", "precision"), "float16", r"nulls.precision = 'float16' is not allowed; expected one of 'float64', 'float32'"),
        (("extract", "hook"), "blocks.0.hook_resid_post", r"extract.hook must contain '\{layer\}'"),
        (
            ("sensitivity", "token_fractions"),
            [0.0, 1.0],
            r"sensitivity.token_fractions\[0\] = 0.0 is out of range; allowed: 0 < sensitivity.token_fractions\[0\] <= 1",
        ),
        (("sensitivity", "min_correlations"), [], "sensitivity.min_correlations, non_concept_top_k and token_fractions each need"),
        (("subspaces", "min_share"), 0.5, r"subspaces.min_share = 0.5 is out of range; allowed: 0.5 < subspaces.min_share <= 1"),
        (("subspaces", "lexnames"), [], "subspaces.rule is lexname but subspaces.lexnames is empty"),
        (("comparisons", "shuffled", "sensitivity"), True, "comparisons.shuffled shuffles B's windows and asks for the sensitivity grid"),
    ],
)
def test_out_of_range_values_are_refused(params_dict, path, value, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(with_value(params_dict, path, value))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("comparisons", "main", "b"), "toy_c", r"comparisons.main.b = 'toy_c' names no entry of sources"),
        (("models", "toy_a", "tokens"), "books", r"models.toy_a.tokens = 'books' names no entry of token_sets"),
        (("models", "toy_a", "tokens"), "planted", r"models.toy_a is a trained model but token set 'planted' is planted"),
        (("sources", "toy_a", "model"), "toy_c", r"sources.toy_a.model = 'toy_c' names no entry of models"),
        (("sources", "toy_a", "model"), "planted_a", r"sources.toy_a is a trained source but model 'planted_a' is planted"),
        (
            ("sources", "toy_b_untrained", "tokens"),
            "planted",
            r"sources.toy_b_untrained.tokens = 'planted' but its model 'toy_b_untrained' reads 'wordnet'",
        ),
        (("paper", "replicates"), ["main_r2", "main_r9"], r"paper.replicate_2 = 'main_r9' names no entry of comparisons"),
        (("paper", "skyline"), "floor", r"paper.skyline = 'floor' must pair one model of 'main' \(toy_a or toy_b\) with itself"),
        (("comparisons", "main", "tokens"), "planted", r"comparisons.main is over token set 'planted' but source 'toy_a' reads 'wordnet'"),
        (("paper", "main"), "mian", r"paper.main = 'mian' names no entry of comparisons"),
    ],
)
def test_names_that_refer_to_nothing_are_refused(params_dict, path, value, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(with_value(params_dict, path, value))


def test_a_name_may_not_be_both_a_source_and_a_comparison(params_dict):
    params_dict["comparisons"]["toy_a"] = params_dict["comparisons"]["main"]
    with pytest.raises(ParamsError, match=r"\['toy_a'\] name two of: a source, a comparison, a reserved folder"):
        parse_params(params_dict)


def test_a_comparison_may_not_take_a_reserved_results_folder(params_dict):
    params_dict["comparisons"]["calibration"] = params_dict["comparisons"]["main"]
    with pytest.raises(ParamsError, match=r"\['calibration'\] name two of"):
        parse_params(params_dict)


def test_an_untrained_model_reads_as_no_training_and_same_layers_pair_layer_with_layer(params):
    assert params.models["toy_b_untrained"].training is None
    assert params.models["toy_b_untrained"].seed == params.models["toy_b"].seed
    assert params.layer_pairs("skyline") == [(1, 1)]
    assert params.sources["toy_a_sae_seed"].model == params.sources["toy_a"].model
    assert params.sources["toy_a_sae_seed"].sae.seed != params.sources["toy_a"].sae.seed


def test_missing_file_says_where_to_run(tmp_path):
    with pytest.raises(ParamsError, match="run from the repository root"):
        load_params(tmp_path / "params.yaml")


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("token_sets: [unclosed\n")
    with pytest.raises(ParamsError, match=r"params\.yaml is not valid YAML"):
        load_params(path)
