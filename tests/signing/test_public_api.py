"""The public surface of zerog_signing is what __all__ says, and every name resolves."""

from __future__ import annotations

import importlib
import pkgutil

import zerog_signing


def test_every_exported_name_exists() -> None:
    for name in zerog_signing.__all__:
        assert hasattr(zerog_signing, name), name
    assert len(set(zerog_signing.__all__)) == len(zerog_signing.__all__)


def test_every_module_has_a_docstring_and_an_all() -> None:
    for module in pkgutil.iter_modules(zerog_signing.__path__):
        loaded = importlib.import_module(f"zerog_signing.{module.name}")
        assert loaded.__doc__ and loaded.__doc__.strip(), module.name
        assert hasattr(loaded, "__all__"), module.name


def test_errors_share_one_root() -> None:
    errors = importlib.import_module("zerog_signing.errors")
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, zerog_signing.SigningError), name
