"""The one error a stage reports as a single line: bad input, named with its fix."""

from __future__ import annotations


class InputError(Exception):
    """A file, a params.yaml key or a device the pipeline cannot use; the message names it and the command that fixes it."""
