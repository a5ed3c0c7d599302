"""Exceptions that jobs raise, for tests/test_exceptions.py (a module of the test project:
importable in the caller, shipped by value to the job)."""

from __future__ import annotations

import errno


class DataValidationError(Exception):
    """An __init__ that takes other arguments than the message it passes up."""

    def __init__(self, column, n_bad):
        super().__init__(f"{n_bad} bad values in column {column!r}")
        self.column = column
        self.n_bad = n_bad


class KeywordOnlyError(ValueError):
    def __init__(self, *, code, detail=None):
        super().__init__(code)
        self.code = code
        self.detail = detail


def validate(column, n_bad):
    raise DataValidationError(column, n_bad)  # line 26: the traceback names it


def chained():
    try:
        {}["missing"]
    except KeyError as exc:
        raise KeywordOnlyError(code=7, detail={"rows": [1, 2]}) from exc


def during_handling():
    try:
        raise OSError(errno.ENOENT, "no such file", "/data/x.csv")
    except OSError:
        raise DataValidationError("path", 1)  # noqa: B904 - the implicit context is the point


class Credentials:
    def __init__(self, token):
        self.token = token

    def __repr__(self):
        return f"Credentials(token={self.token!r})"


class LeakyError(Exception):
    """Carries the secret in its message, its args and an attribute's object."""

    def __init__(self, token):
        super().__init__(f"login failed with token {token}")
        self.credentials = Credentials(token)
        self.token = token


def leak_secret(name, kind):
    import os

    value = os.environ[name]
    if kind == "runtime":
        raise RuntimeError("token " + value)
    try:
        raise KeyError(value)
    except KeyError as exc:
        raise LeakyError(value) from exc
