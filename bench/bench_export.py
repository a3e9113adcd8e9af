"""Take-away records for a patient with 500 documents (and a thread of messages): the export job
run in a fresh interpreter, as a cold Lambda sandbox would run it.

- `export_seconds_per_100_documents`: the job's time (stream every file into the zip, the FHIR
  bundle, the index page, the zip to S3, the mail), per 100 documents (reported only: an absolute
  time on a shared machine says little).
- `export_peak_memory_ratio`: that process's peak resident memory (VmHWM, imports included, like
  Lambda's "Max Memory Used") over the export function's memory in `.chalice/config.json`. Goal
  ≤ 0.5: each file passes through in chunks and the zip is written to a temporary file, so the
  peak must not grow with the number or size of the documents.

    python -m bench.bench_export job    # (the fresh interpreter's part) prints {"peak_mib", "seconds"}
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

from bench import lambda_config
from bench.figures import Figure
from chalicelib import aws
from chalicelib.settings import get_settings

DOCUMENTS = 500
FILE_BYTES = 200 * 1024  # a scanned report's size; random bytes, so the zip cannot shrink them
EXPORT_FUNCTION = "build-exports"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n"


def _publish(patient) -> None:
    from chalicelib.localstack import pump

    s3, bucket, rng = aws.client("s3"), get_settings().results_bucket, random.Random(17)
    for number in range(DOCUMENTS):
        s3.put_object(Bucket=bucket, Key=f"incoming/{patient.mrn}/report-{number:04d}.pdf",
                      Body=PDF + rng.randbytes(FILE_BYTES), ContentType="application/pdf",
                      Metadata={"title": f"Report {number}", "category": "imaging report", "provider": "Dr. Bench"})
    idle_rounds = 0
    while idle_rounds < 3:
        idle_rounds = idle_rounds + 1 if pump.drain() == 0 else 0


def _job_in_a_fresh_interpreter() -> dict:
    environment = {**os.environ, "PYTHONPATH": str(lambda_config.ROOT), "POWERTOOLS_LOG_LEVEL": "ERROR"}
    out = subprocess.run([sys.executable, "-m", "bench.bench_export", "job"], cwd=lambda_config.ROOT,  # noqa: S603
                         env=environment, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench.bench_export job failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(portal) -> list[Figure]:
    patient = portal.new_patient(portal.staff)
    _publish(patient)
    for number in range(5):
        sent = patient.api.post("/api/messages", json={"subject": f"Question {number}", "body": "About my report."})
        assert sent.status_code == 201, sent.text

    asked = patient.api.post("/api/me/exports")
    assert asked.status_code == 202, asked.text
    measured = _job_in_a_fresh_interpreter()
    answer = patient.api.get(f"/api/me/exports/{asked.json()['id']}").json()
    if answer.get("status") != "ready":
        raise RuntimeError(f"the export is not ready after its job: {answer}")

    memory = lambda_config.memory_mb(EXPORT_FUNCTION)
    peak, seconds = measured["peak_mib"], measured["seconds"]
    print(f"  export of {DOCUMENTS} documents ({DOCUMENTS * FILE_BYTES // 2**20} MiB): {seconds:.1f} s, "
          f"peak {peak:.0f} MiB", flush=True)
    return [
        Figure("export_seconds_per_100_documents", seconds / (DOCUMENTS / 100), 1, "(reported)", "s",
               "reported only: no meaningful floor for an absolute time on a shared machine"),
        Figure("export_peak_memory_ratio", round(peak / memory, 3), 1, "<= 0.5", "ratio",
               f"{EXPORT_FUNCTION}'s configured {memory} MB (an export of {DOCUMENTS} documents: peak {peak:.0f} MiB)"),
    ]


def _job() -> None:
    """The export function's work on what waits in the export queue, timed, then the peak."""
    from bench.peak_memory import peak_mib
    from chalicelib.localstack import pump

    started = time.perf_counter()
    assert pump.drain() > 0, "nothing was waiting in the export queue"
    seconds = time.perf_counter() - started
    print(json.dumps({"peak_mib": round(peak_mib(), 1), "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    if sys.argv[1:] != ["job"]:
        raise SystemExit("usage: python -m bench.bench_export job")
    _job()
