"""Planted ground truth: the pipeline's computations recover what the synthetic world plants."""

from pathlib import Path

import pytest
import yaml

from universality.activations.extract import encode
from universality.activations.ground_truth import planted_labels, planted_recovery
from universality.pairing.correlation import pair_sparse
from universality.pairing.subsets import one_to_one
from universality.params import parse_params
from universality.similarity.engine import Engine
from universality.similarity.nulls import NullSettings, compare
from universality.similarity.size_matched import FeaturePools
from universality.sources.planted.sae_training import train_planted_sae
from universality.sources.planted.world import firing_probabilities, planted_dictionary, sample_latents, shared_feature_directions

N_TOKENS = 10000  # the default planted world and SAEs, on fewer tokens


def run_planted(params_dict, geometry_noise):
    params_dict["models"]["planted_b_related"]["geometry_noise"] = geometry_noise
    params = parse_params(params_dict)
    world = params.token_sets["planted"]
    probabilities = firing_probabilities(world, world.seed)
    latents = sample_latents(world, probabilities, N_TOKENS, seed=world.seed)
    shared = shared_feature_directions(world)
    codes, decoders, labels = {}, {}, {}
    for side, name in (("a", "planted_a"), ("b", "planted_b_related")):
        source = params.sources[name]
        dictionary = planted_dictionary(world, params.model_of(name), shared)
        sae = train_planted_sae(dictionary, source.sae, world, probabilities)
        codes[side], _ = encode(sae, dictionary.activations(latents), 4096, desc=name)
        decoders[side] = sae.W_dec.detach().numpy()
        labels[side] = planted_labels(decoders[side], dictionary.feature_vectors, dictionary.world_ids)
    full = pair_sparse(codes["a"], codes["b"]).pairs
    kept = full[full["r"] > params.filters.min_correlation]
    pairs = one_to_one(kept, "unique_partner").pairs
    a, b = pairs["a_partner"].to_numpy(), pairs["b_feature"].to_numpy()
    recovery = planted_recovery(labels["a"][a], labels["b"][b])
    settings = NullSettings(permutations=200, size_matched_draws=20, ci_draws=20, ci_fraction=0.8, ci_level=0.95)
    pools = FeaturePools(decoders["a"], decoders["b"][full["b_feature"].to_numpy()], full["a_partner"].to_numpy())
    scores = compare(decoders["a"][a], decoders["b"][b], a, pools, Engine(params.similarity.svcca_variance), settings, seed=0)
    return recovery, scores


def repository_params():
    return yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


@pytest.fixture(scope="module")
def related():
    return run_planted(repository_params(), geometry_noise=0.0)


@pytest.fixture(scope="module")
def unrelated():
    return run_planted(repository_params(), geometry_noise=1.0)


def test_one_to_one_pairs_recover_the_planted_correspondence(related):
    recovery, _ = related
    assert recovery["n"] >= 15
    assert recovery["share_correct"] >= 0.6
    # Pairs of two features that each recover a planted feature are (almost) all correct.
    assert recovery["both_recovered"] >= 0.5 * recovery["n"]
    assert recovery["correct_among_recovered"] >= 0.9 * recovery["both_recovered"]


def test_svcca_separates_linearly_related_from_unrelated_geometry(related, unrelated):
    _, hit = related
    _, miss = unrelated
    hit_null, miss_null = hit["svcca"]["row_shuffle"], miss["svcca"]["row_shuffle"]
    assert hit_null["p"] < 0.01 and hit_null["z"] > 5
    # Unrelated directions leave a weak residual dependence between the paired rows (row-shuffle
    # z = 3.1, 2.5 and 1.4 for side-B seeds 2, 3 and 4 of the default world): the claim is the
    # separation from the related geometry, not a null result for the unrelated one.
    assert miss_null["p"] > 0.001 and miss_null["z"] < 3.5
    assert hit_null["z"] > miss_null["z"] + 3
    # Few pairs in many dimensions inflate both raw scores; the null is what separates them.
    assert hit["svcca"]["observed"] - hit_null["null_mean"] > 0.05
    assert abs(miss["svcca"]["observed"] - miss_null["null_mean"]) < 0.02
