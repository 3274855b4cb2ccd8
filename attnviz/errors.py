"""Exceptions with messages meant to be shown to people as they are."""

from __future__ import annotations


class AttnvizError(Exception):
    """Base class: every message is a complete sentence a user can act on."""


class EmptyInputError(AttnvizError, ValueError):
    """The text has no token the model can read (empty, whitespace, punctuation or symbols only)."""


class DataUnavailableError(AttnvizError, RuntimeError):
    """The corpus is not cached and could not be downloaded or verified."""


class ModelLoadError(AttnvizError, RuntimeError):
    """A model directory is missing, incomplete or corrupted."""
