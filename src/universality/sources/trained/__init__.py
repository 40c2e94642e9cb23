"""Source kind `trained`: a small transformer and its SAEs, trained here on WordNet's glosses.

Token set: the glosses (`wordnet`), a BPE tokenizer trained on them (`bpe`), whole documents
packed into windows; a seeded choice of windows is held out as the analysis token set, the
rest train the models and SAEs. Model: a TransformerLens transformer trained with
TransformerLens' loop (`language_model`). SAEs: a TopK SAE per layer trained with SAELens'
runner (`sae_training`). Activations: the shared language-model extraction.
"""
