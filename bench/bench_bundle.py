"""The deployment bundle: its size, and a cold start from it as Lambda makes one.

- bundle_mib: the size of `deployment.zip` as `make package` makes it for prod (the package the
  tests share, `infra.package.cached`, is the same command's output). The floor is the goal,
  15 MiB: Lambda takes 50 MiB zipped, and every MiB is read from S3 and unpacked on each new
  instance before the first line of the portal runs.
- cold_start_bundle_ratio: a fresh interpreter that has only the unzipped bundle and the standard
  library on its path (`python -I -S -B`, writing no bytecode, as on Lambda's read-only disk)
  imports the app and serves GET /api/items, over the bare Chalice app of `bench/bare_app.py`
  started the same way from the same bundle's libraries. Median of 5, interleaved. The bundle's
  own bytecode (what `infra.package` compiles) counts; anything else is compiled as Lambda would.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench.bench_runtime import ITEMS_PER_PATIENT, _publish_documents, _seed_bare_items
from bench.figures import Figure

HERE = Path(__file__).parent
COLD_RUNS = 5

# Run as `python -I -S -B -c RUNNER <bundle> <bench copy> portal|bare <token>`: the time to import
# and answer one request, printed in seconds.
RUNNER = r"""
import sys, time
bundle, extra, kind, token = sys.argv[1:5]
sys.path[:0] = [bundle, extra]
started = time.perf_counter()
from coldstart import Context, api_gateway_event
if kind == "portal":
    from app import app
    answer = app(api_gateway_event("/api/items", token), Context())
else:
    from bare_app import app
    answer = app(api_gateway_event("/items", None), Context())
elapsed = time.perf_counter() - started
assert answer["statusCode"] == 200, answer
print(f"{elapsed:.6f}")
"""


def _bundle_mib(package: Path) -> Figure:
    size = (package / "deployment.zip").stat().st_size / 2**20
    return Figure("bundle_mib", round(size, 2), 15, "<= 1", "MiB",
                  "the goal, 15 MiB: Lambda's limit is 50 MiB zipped, and a new instance fetches and unpacks it all")


def _cold_start(package: Path, token: str) -> Figure:
    scratch = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    try:
        bundle, extra = scratch / "task", scratch / "bench"
        with zipfile.ZipFile(package / "deployment.zip") as zipped:
            zipped.extractall(bundle)
        extra.mkdir()
        # The runner's event helpers, and the bare app (which imports only what the bundle carries).
        shutil.copy2(HERE / "coldstart.py", extra / "coldstart.py")
        shutil.copy2(HERE / "bare_app.py", extra / "bare_app.py")
        env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "ERROR"}

        def once(kind: str) -> float:
            out = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", RUNNER, str(bundle), str(extra), kind, token],  # noqa: S603
                                 env=env, capture_output=True, text=True, check=True, cwd=scratch)
            return float(out.stdout.strip().splitlines()[-1])

        portal_times, bare_times = [], []
        for _ in range(COLD_RUNS):
            portal_times.append(once("portal"))
            bare_times.append(once("bare"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    value, floor = statistics.median(portal_times), statistics.median(bare_times)
    return Figure("cold_start_bundle_ratio", round(value / floor, 3), 1, "<= 1.3", "ratio",
                  f"the bare Chalice app from the same unzipped bundle: {floor * 1000:.0f} ms vs the portal's "
                  f"{value * 1000:.0f} ms")


def run(portal) -> list[Figure]:
    from infra.package import cached

    package = Path(tempfile.mkdtemp(prefix="bench-package-"))
    try:
        shutil.copy2(cached("prod") / "deployment.zip", package / "deployment.zip")
        patient = portal.new_patient(portal.staff)
        _publish_documents(portal, patient, ITEMS_PER_PATIENT)
        _seed_bare_items(ITEMS_PER_PATIENT)
        return [_bundle_mib(package), _cold_start(package, patient.api.token)]
    finally:
        shutil.rmtree(package, ignore_errors=True)
