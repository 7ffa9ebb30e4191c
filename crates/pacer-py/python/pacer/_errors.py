"""The package's own exception."""


class PacerError(ValueError):
    """A run that could not start: a wrong config (the message names the file, the key and
    what was expected) or an output folder that holds another run. A `ValueError`, as a
    wrong value it is."""
