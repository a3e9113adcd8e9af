"""Serves the Chalice app over HTTP in a thread, the way `chalice local --stage local` does."""

from __future__ import annotations

import threading

from chalicelib.localstack.stack import ROOT


def serve(host: str, port: int):
    """Start `chalice local`'s server for app.py in a daemon thread; returns the server."""
    from chalice.cli.factory import CLIFactory
    from chalice.local import create_local_server

    from app import app

    config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="local")
    server = create_local_server(app, config, host, port)
    thread = threading.Thread(target=server.serve_forever, name="portal-http", daemon=True)
    thread.start()
    return server
