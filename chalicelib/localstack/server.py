"""Serves the Chalice app over HTTP in a thread, the way `chalice local --stage local` does."""

from __future__ import annotations

import functools
import threading

from chalicelib.localstack.stack import ROOT


def serve(host: str, port: int):
    """Start `chalice local`'s server for app.py in a daemon thread; returns the server."""
    from chalice.cli.factory import CLIFactory
    from chalice.local import ChaliceRequestHandler, create_local_server

    from app import app

    class NoDelayHandler(ChaliceRequestHandler):
        # Headers and body go out in two writes: with Nagle's algorithm on, a keep-alive client's
        # delayed ACK held every answer back by about 40 ms.
        disable_nagle_algorithm = True

    config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="local")
    server = create_local_server(app, config, host, port)  # also gives each request thread its own current_request
    server.server.RequestHandlerClass = functools.partial(NoDelayHandler, app_object=app, config=config)
    thread = threading.Thread(target=server.serve_forever, name="portal-http", daemon=True)
    thread.start()
    return server
