"""Errors that carry a user-facing sentence; the API maps them to HTTP codes, the CLI to exit codes."""
from __future__ import annotations


class SiftragError(Exception):
    """Base class: ``str(error)`` is a complete sentence for the user."""

    http_status = 400
    exit_code = 2


class InvalidInputError(SiftragError):
    """The request or file is malformed (bad field, empty query, non-JSON line)."""

    http_status = 422


class NotFoundError(SiftragError):
    """An unknown collection, index kind, index version, job or dataset path."""

    http_status = 404
    exit_code = 3


class ConflictError(SiftragError):
    """The resource exists already, or another job holds it."""

    http_status = 409


class TooLargeError(SiftragError):
    """The request exceeds a configured limit."""

    http_status = 413


class ModelUnavailableError(SiftragError):
    """A model is neither bundled locally nor reachable on the Hugging Face hub."""

    http_status = 503
    exit_code = 4


class BackendUnavailableError(SiftragError):
    """A configured external service (the Milvus index backend) is not installed or not reachable."""

    http_status = 503
    exit_code = 4
