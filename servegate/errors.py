"""Errors that reach the user as one line, never as a traceback.

Raise :class:`UserError` (or a subclass) for anything caused by input the user controls:
a file, a flag, an endpoint, a cluster. The CLI and the pytest plugin print ``str(exc)``.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class ConfigError(UserError):
    """A profile, SLO file, fleet file or setting that does not validate.

    The message names the file and, where known, the line and field.
    """


class MissingCapability(UserError):
    """The cluster lacks something a check needs (an add-on, an API, GPU resources).

    The pytest plugin reports it as a skip naming what is missing; a check is never passed
    by it.
    """
