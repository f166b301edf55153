"""The version is written once, in rillet/_version.py; the package metadata reads it from there."""

from __future__ import annotations

import importlib.metadata

import rillet
from rillet._version import __version__


def test_the_installed_metadata_carries_the_package_version() -> None:
    assert rillet.__version__ == __version__ == importlib.metadata.version("rillet")
