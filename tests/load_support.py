"""Moved to tests/support/load.py: this name stays only while test files are moved over to it."""

from tests.support.load import *  # noqa: F403
