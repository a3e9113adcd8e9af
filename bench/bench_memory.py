"""Peak memory ÷ configured memory, per function.

- signin_peak_memory_ratio: the peak resident memory of a fresh process that imports the portal
  and serves one sign-in (Argon2id at the production cost), over the API function's memory in
  `.chalice/config.json` (prod stage; Chalice's 128 MB when none is set). Goal ≤ 0.5: on Lambda the
  CPU share follows the memory setting, and a function near its limit is one import away from
  failing.
- publish_peak_memory_ratio / sweep_peak_memory_ratio: the same for the publisher (a batch of 10
  uploads) and the hourly sweep (with notices due), over their own functions' memory.

Each runs in its own interpreter, as a cold sandbox would (`bench.peak_memory`); the peak is the
process's high-water resident memory (VmHWM), which, like Lambda's "Max Memory Used", counts the
interpreter and its imports too. The floor is 1: the whole configured memory; the goal asks for half of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from bench import lambda_config
from bench.figures import Figure
from chalicelib import aws
from chalicelib.clock import clock, iso
from chalicelib.settings import get_settings

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
BATCH = 10  # the publisher's SQS batch size
DUE = 30


def _peak(kind: str, **env: str) -> float:
    # The settings' own Argon2id cost: a cheaper one left in the environment would flatter the figure.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PASSWORD_HASH_")}
    environment.update(env, PYTHONPATH=str(lambda_config.ROOT), POWERTOOLS_LOG_LEVEL="ERROR")
    out = subprocess.run([sys.executable, "-m", "bench.peak_memory", kind], cwd=lambda_config.ROOT,  # noqa: S603
                         env=environment, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench.peak_memory {kind} failed:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def _put_uploads(patient, count: int, tag: str) -> None:
    s3 = aws.client("s3")
    for n in range(count):
        s3.put_object(Bucket=get_settings().results_bucket, Key=f"incoming/{patient.mrn}/{tag}-{n}.pdf",
                      Body=PDF + str(n).encode(), ContentType="application/pdf",
                      Metadata={"title": f"Result {n}", "category": "lab", "provider": "Dr. Bench"})


def _figure(name: str, peak: float, function: str, what: str) -> Figure:
    memory = lambda_config.memory_mb(function)
    return Figure(name, round(peak / memory, 3), 1, "<= 0.5", "ratio",
                  f"{function}'s configured {memory} MB ({what}: peak {peak:.0f} MiB)")


def run(portal) -> list[Figure]:
    from chalicelib.localstack import pump

    patient = portal.new_patient(portal.staff)
    signin = _peak("signin", BENCH_USERNAME=patient.username, BENCH_PASSWORD=patient.password)

    # Due items for the sweep: documents published now, unread when their follow-up comes.
    _put_uploads(patient, DUE, "due")
    pump.drain()
    at = clock.now() + timedelta(days=get_settings().follow_up_days, hours=1)
    sweep = _peak("sweep", BENCH_AT=iso(at))

    _put_uploads(patient, BATCH, "batch")
    publish = _peak("publish")
    print(f"  peak memory: sign-in {signin:.0f} MiB, publisher {publish:.0f} MiB, sweep {sweep:.0f} MiB", flush=True)
    return [
        _figure("signin_peak_memory_ratio", signin, lambda_config.API_FUNCTION, "import + one sign-in"),
        _figure("publish_peak_memory_ratio", publish, lambda_config.PUBLISHER, f"a batch of {BATCH} uploads"),
        _figure("sweep_peak_memory_ratio", sweep, lambda_config.SWEEP, f"a sweep with {DUE} notices due"),
    ]
