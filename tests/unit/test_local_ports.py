"""The local stack's ports: each of `make test`'s workers takes them from a block of its own, so
two workers never share a stack; within a block, a port something already listens on is skipped."""

from __future__ import annotations

import socket

import pytest

from chalicelib.localstack.stack import free_port


def test_a_port_in_use_is_skipped_for_the_next_free_one_of_the_block():
    # Given a block of ports whose first one something listens on
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]

        # When a free port of the block is asked for
        found = free_port(range(taken, taken + 50))

    # Then it is a later port of the block, one that can be listened on
    assert taken < found < taken + 50
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", found))


def test_without_a_block_the_kernel_picks_a_free_port():
    # When a free port is asked for without a block
    port = free_port()

    # Then it is a real port number that can be bound
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_block_with_no_free_port_is_an_error_not_the_kernels_pick():
    # Given an empty block of ports
    # When a free port of it is asked for
    # Then it is refused, never some port outside the block
    with pytest.raises(RuntimeError, match="no free port"):
        free_port(range(20_000, 20_000))
