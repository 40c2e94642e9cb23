"""Toy SAE training from one pass of the model: the activations it keeps and the batches it draws."""

import numpy as np
import pytest
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

from universality.params.schema import LMSAETraining, TrainedSAE
from universality.sources.trained.sae_training import counted_activations, shuffled_batches, train_lm_saes

HOOKS = {0: "blocks.0.hook_resid_post", 1: "blocks.1.hook_resid_post"}


@pytest.fixture(scope="module")
def model() -> HookedTransformer:
    config = HookedTransformerConfig(n_layers=2, d_model=8, n_ctx=6, d_head=4, n_heads=2, d_mlp=16, d_vocab=20, act_fn="relu", seed=0)
    return HookedTransformer(config).eval()


def windows_and_mask(n_windows: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(1)
    return generator.integers(2, 20, (n_windows, 6)), generator.random((n_windows, 6)) < 0.7


def test_counted_activations_are_each_hooks_output_at_the_counted_positions_in_window_order(model):
    windows, counted = windows_and_mask(10)
    kept = counted_activations(model, HOOKS, windows, counted, batch_windows=3, n_tokens=25)
    _, cache = model.run_with_cache(torch.from_numpy(windows))
    for layer, hook in HOOKS.items():
        expected = cache[hook][torch.from_numpy(counted)][:25]
        assert kept[layer].shape == (25, 8)
        torch.testing.assert_close(kept[layer], expected)
    everything = counted_activations(model, HOOKS, windows, counted, batch_windows=4, n_tokens=10_000)
    assert len(everything[0]) == counted.sum()  # fewer counted tokens than asked for: all of them


def test_each_pass_of_the_shuffled_batches_is_a_seeded_permutation_of_the_rows():
    rows = torch.arange(10, dtype=torch.float32)[:, None]
    first = [batch[:, 0].tolist() for _, batch in zip(range(6), shuffled_batches(rows, 3, seed=5), strict=False)]
    again = [batch[:, 0].tolist() for _, batch in zip(range(6), shuffled_batches(rows, 3, seed=5), strict=False)]
    other = [batch[:, 0].tolist() for _, batch in zip(range(6), shuffled_batches(rows, 3, seed=6), strict=False)]
    assert first == again and first != other
    for one_pass in (first[:3], first[3:]):  # 10 rows fill 3 batches of 3 per pass; the 10th waits for the next pass
        assert len({row for batch in one_pass for row in batch}) == 9
    with pytest.raises(ValueError, match="2 training activations cannot fill a batch of 3"):
        next(shuffled_batches(rows[:2], 3, seed=0))


@pytest.mark.parametrize("store", ["memory", "stream"])
def test_both_activation_stores_train_seeded_saes_that_reconstruct_better_than_their_initialisation(model, store):
    windows, counted = windows_and_mask(200)
    windows[:, 0], counted[:, 0] = 0, False  # BOS, as in a token set
    training = LMSAETraining(training_tokens=3000, batch_size=100, lr=0.01, lr_decay_fraction=0.0, dead_window=5, activation_store=store)
    spec = TrainedSAE(d_sae=16, k=2, seed=3, training=training)
    trained = train_lm_saes(model, HOOKS, windows, counted, spec, batch_windows=20, special_ids=[0])
    again = train_lm_saes(model, HOOKS, windows, counted, spec, batch_windows=20, special_ids=[0])
    check = counted_activations(model, HOOKS, windows, counted, batch_windows=50, n_tokens=2000)
    for layer in HOOKS:
        torch.manual_seed(spec.seed + layer)
        initial = type(trained[layer])(trained[layer].cfg)
        with torch.no_grad():
            errors = [float(((sae.decode(sae.encode(check[layer])) - check[layer]) ** 2).mean()) for sae in (initial, trained[layer])]
        assert errors[1] < 0.5 * errors[0]
        torch.testing.assert_close(trained[layer].W_dec, again[layer].W_dec, rtol=0, atol=0)
