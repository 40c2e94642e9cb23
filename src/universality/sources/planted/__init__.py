"""Source kind `planted`: planted features with a known answer (`sae_lens.synthetic`).

Token set: a world of latent features firing on each token, with the shared features'
directions (`world`). Model: the source's feature dictionary, the shared directions embedded
in its d_model and mixed with its own by `geometry_noise`. SAEs: one TopK SAE (layer 0)
trained with SAELens on the dictionary's activations. Activations: the SAE's codes of the
world's tokens, and for each SAE feature the planted feature it recovers (`world_ids`).
"""
