"""Moved to tests/support/lifecycle.py: this name stays only while test files are moved over to it."""

from tests.support.lifecycle import *  # noqa: F403
