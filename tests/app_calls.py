"""Moved to tests/support/app_calls.py: this name stays only while test files are moved over to it."""

from tests.support.app_calls import *  # noqa: F403
