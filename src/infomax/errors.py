"""User-facing errors. Imports nothing from infomax.

Raise :class:`UserError` for anything a user can fix (unknown name, missing file, bad shape, bad value).
The CLI prints its message on one line and exits with code 2; the Python API lets it propagate.
"""


class UserError(ValueError):
    """A mistake the user can fix; its message is one clear line."""
