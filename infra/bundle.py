"""The Lambda bundle's libraries: the runtime lock installed for Lambda's platform, then trimmed to
what the functions use. `infra.package` hands the result to Chalice as the project's `vendor/`
(Chalice copies it into `deployment.zip` as it is, and adds its own `chalice/app.py`, the only
part of Chalice a function imports).

1. `requirements.lock` is the runtime lock: only what the functions import (Chalice's CLI, pip,
   setuptools, wheel and inquirer are development requirements). Each package is installed with
   its locked hashes checked, as a wheel for Lambda's platform (manylinux up to glibc 2.26, the
   python3.11 runtime's), without compiling: `LEFT_OUT` packages are not installed at all.
2. `TRIMS` then remove, each with its reason, what no function reads: Babel's locales beyond the
   languages served, botocore's and boto3's models of services the portal never calls, the FHIR
   models of versions other than R4B, fontTools' compiled accelerators and the C sources
   beside them, Powertools' HTTP router and unused utilities, console scripts.

Why trim botocore rather than take boto3 from the Lambda runtime: the runtime's boto3 is whatever
version AWS last put there (it changes under a deployed function without notice, and AWS advises
bundling your own), while the portal's is the locked, hash-checked version the whole suite ran
against. Trimming keeps that version and costs about 1 MiB zipped for the five services used.

    python -m infra.bundle [--out build/vendor]     # build and report what each trim removed
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chalicelib.stages import ROOT

LOCK = ROOT / "requirements.lock"
# Lambda's python3.11 runtime: Amazon Linux 2, glibc 2.26, x86_64.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_24_x86_64", "manylinux_2_26_x86_64")
PYTHON_VERSION = "3.11"

# Locked runtime packages the bundle leaves out, and why.
LEFT_OUT = {
    "pillow": "fpdf2 needs Pillow only to place images; the enrolment letters are text in PDF core fonts, "
              "and fpdf2 imports it inside try/except. It would also be the bundle's largest native "
              "library (no wheel of the locked version is built for Lambda's python3.11 glibc).",
}

# The services the functions call: every `aws.client("<service>")` in chalicelib (found, not
# listed: a new client is kept without an edit here), and DynamoDB, which PynamoDB calls.
ALWAYS_KEPT_SERVICES = ("dynamodb",)
_CLIENT = re.compile(r"""aws\.client\(\s*["']([a-z0-9-]+)["']""")


def aws_services(source: Path = ROOT / "chalicelib") -> list[str]:
    """The AWS services the deployed code names (the local stack's own code is not deployed code)."""
    found = set(ALWAYS_KEPT_SERVICES)
    for path in source.rglob("*.py"):
        if "localstack" not in path.relative_to(source).parts:
            found.update(_CLIENT.findall(path.read_text(encoding="utf-8")))
    return sorted(found)


def served_languages() -> tuple[str, ...]:
    from chalicelib.i18n import LANGUAGES

    return tuple(LANGUAGES)


def _lock_without(left_out: set[str], lock: Path = LOCK) -> str:
    """The lock's text without the requirements (and their hashes) of `left_out`."""
    blocks = re.split(r"(?m)^(?=[A-Za-z0-9])", lock.read_text())
    kept = []
    for block in blocks:
        name = re.match(r"([A-Za-z0-9_.\-]+)==", block)
        if name and re.sub(r"[-_.]+", "-", name.group(1)).lower() in left_out:
            continue
        kept.append(block)
    return "".join(kept)


def install(target: Path, scratch: Path) -> None:
    """The runtime lock, minus LEFT_OUT, installed into `target` as wheels for Lambda's platform."""
    requirements = scratch / "bundle-requirements.txt"
    requirements.write_text(_lock_without(set(LEFT_OUT)))
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    subprocess.run(  # noqa: S603 - our own pip, our own lock
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
         "--require-hashes", "--no-deps", "--only-binary=:all:", "--implementation", "cp",
         "--python-version", PYTHON_VERSION, *platforms, "--target", str(target), "-r", str(requirements)],
        check=True,
    )


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file())


def _remove(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        removed += _size(path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def trim_scripts(root: Path) -> int:
    """Console scripts (pybabel, pyftsubset, …): nothing runs them on Lambda."""
    return _remove([p for p in [root / "bin"] if p.exists()])


def trim_babel(root: Path) -> int:
    """Babel's locale data for the languages the portal serves (and `root`, their parent)."""
    keep = {f"{language}.dat" for language in served_languages()} | {"root.dat"}
    data = root / "babel" / "locale-data"
    return _remove([p for p in data.iterdir() if p.name not in keep])


def trim_aws_models(root: Path) -> int:
    """botocore's (and boto3's resource) models of the services the functions call; the shared
    files (endpoints, partitions, retry and default configuration) stay."""
    keep = set(aws_services())
    removed = 0
    for data in (root / "botocore" / "data", root / "boto3" / "data"):
        removed += _remove([p for p in data.iterdir() if p.is_dir() and p.name not in keep])
    return removed


def trim_fhir(root: Path) -> int:
    """fhir.resources' FHIR versions other than R4B (the package's top level is R5, and STU3):
    the lab intake reads R4 with the R4B models, which import nothing outside R4B."""
    resources = root / "fhir" / "resources"
    return _remove([p for p in resources.iterdir() if p.name not in ("__init__.py", "R4B", "py.typed")])


def trim_font_accelerators(root: Path) -> int:
    """fontTools' compiled accelerators: each is a Cython build of a module whose Python source
    sits beside it, and fontTools falls back to that source. A letter's fonts don't need the speed."""
    return _remove([p for p in (root / "fontTools").rglob("*.so")
                    if p.with_name(p.name.split(".", 1)[0] + ".py").exists()])


def trim_native_sources(root: Path) -> int:
    """C and Cython sources shipped beside built extensions (fontTools' accelerators, markupsafe's
    speedups): a build reads them, never an import."""
    return _remove([p for p in root.rglob("*") if p.suffix in (".c", ".pyx", ".pxd") and p.is_file()])


# Powertools' parts the portal does not use: its own HTTP router (the portal routes with Chalice)
# and utilities no function imports. Logging, metrics, the batch processor (the queue handlers'
# partial failures) and what it reads SQS events with (data classes, parser) stay.
POWERTOOLS_UNUSED = (
    "event_handler", "utilities/auth_alpha", "utilities/circuit_breaker", "utilities/data_masking",
    "utilities/feature_flags", "utilities/idempotency", "utilities/kafka", "utilities/parameters",
    "utilities/streaming", "utilities/validation",
)


def trim_powertools(root: Path) -> int:
    """Powertools' HTTP router and the utilities no function imports (POWERTOOLS_UNUSED)."""
    package = root / "aws_lambda_powertools"
    return _remove([package / part for part in POWERTOOLS_UNUSED if (package / part).exists()])


def trim_caches(root: Path) -> int:
    """Bytecode caches a wheel may carry (`infra.package` compiles what the bundle needs)."""
    return _remove(sorted(root.rglob("__pycache__"), reverse=True))


@dataclass(frozen=True)
class Trim:
    name: str
    apply: Callable[[Path], int]


TRIMS = (
    Trim("console scripts", trim_scripts),
    Trim("Babel locales beyond the languages served", trim_babel),
    Trim("AWS service models the functions never call", trim_aws_models),
    Trim("FHIR versions other than R4B", trim_fhir),
    Trim("fontTools' compiled accelerators", trim_font_accelerators),
    Trim("Powertools' router and unused utilities", trim_powertools),
    Trim("C and Cython sources", trim_native_sources),
    Trim("bytecode caches", trim_caches),
)


def build(target: Path, scratch: Path) -> dict[str, int]:
    """Install and trim; returns the bytes each trim removed."""
    if target.exists():
        shutil.rmtree(target)
    install(target, scratch)
    return {trim.name: trim.apply(target) for trim in TRIMS}


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "vendor"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        removed = build(Path(args.out), Path(scratch))
    for name, size in removed.items():
        print(f"{size / 2**20:8.1f} MiB  {name}")
    print(f"{_size(Path(args.out)) / 2**20:8.1f} MiB  left (unzipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
