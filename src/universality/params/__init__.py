"""params.yaml: the typed schema (`schema`) and its validating loader (`loading`)."""

from universality.params.loading import ParamsError, load_params, parse_params
from universality.params.schema import Params

__all__ = ["Params", "ParamsError", "load_params", "parse_params"]
