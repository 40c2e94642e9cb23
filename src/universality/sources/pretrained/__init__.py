"""Source kind `pretrained`: a hub model (Pythia, Gemma) and its published SAEs.

Token set: the first N documents of a hub dataset, cut by a hub tokenizer into windows
(every window is analysed). Model and SAEs: their hub names, recorded (`model.json`,
`saes.json`) so that the expensive stage, extraction, is the only one that loads weights.
Activations: the shared language-model extraction. Without the hub every loader stops with
a message pointing to `dvc pull` of the cached activations.
"""
