"""Errors the user can act on.

A `UserError` carries a message written for the person at the keyboard: what went wrong and
what to do. The command line prints it as one `error:` line (exit code 2) and the window shows
it in the conversation; anything else is a bug and is reported as such (exit code 1).
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a missing file, a broken model folder, a bad option."""


class ModelError(UserError):
    """A model folder that cannot be used; the message says why and what to do."""


class AnswerInterrupted(ModelError):
    """The answer stopped in the middle (a remote server went away); what came is kept and
    the message is marked as cut off."""
