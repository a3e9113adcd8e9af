"""Moved to tests/support/fuzz.py: this name stays only while test files are moved over to it."""

from tests.support.fuzz import *  # noqa: F403
