"""The pipeline's stages, one module each, as declared in dvc.yaml.

Every module has a `run` function that reads its own section of params.yaml and its inputs,
calls the domain code and writes its outputs (paths from `universality.layout`). Nothing
here asks which kind of source it handles: the source kinds share one interface.
"""
