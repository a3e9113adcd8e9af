"""`make package`: the stage's CloudFormation template in `build/`, checked by cfn-lint.

1. the stage's environment variables from `.chalice/config.json` are set first, so the app and
   the models see the stage's names (queue, topic, table prefix) exactly as Lambda will;
2. `infra.template` writes the merge template (tables from the models, bucket, queues, SES, SNS,
   alarms and dashboard, throttling, the optional WAF and custom domain);
3. `infra.bundle` installs the runtime lock for Lambda's platform (hashes checked) and trims it;
4. `chalice package --merge-template` writes `sam.json` and `deployment.zip` from a copy of the
   project whose `vendor/` is that trimmed folder;
5. the portal's modules, and the libraries' a cold start imports, are compiled into the zip beside
   their sources (`add_bytecode`);
6. cfn-lint checks the packaged template; errors fail the command, warnings are shown.

`cached(stage)` is the same command run once for a tree: the tests that need a package share it.

    python -m infra.package [--stage prod] [--out build] [--no-lint]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from chalicelib.stages import ROOT, deployment_settings, stage_environment  # stdlib only: safe before the stage's env is set
from infra import bundle

BIN = Path(sys.executable).parent
CFN_LINT_ERROR = 2  # cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational


def _tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def merge_template(stage: str) -> dict:
    """Built in a process whose environment is the stage's (see `main`)."""
    environment = stage_environment(stage)
    from app import app
    from chalicelib.store.tables import all_models
    from infra import template

    return template.build(environment, all_models(), environment["TABLE_PREFIX"], list(app.event_sources),
                          deployment_settings(stage))


# Modules the functions import on their first request rather than at import (kept lazy so a cold
# start that doesn't need them never pays for them), compiled into the bundle all the same.
FIRST_REQUEST_IMPORTS = (
    "chalicelib.bodies", "chalicelib.api.answers", "chalicelib.web.framework", "jinja2", "babel.dates",
    "babel.support", "email_validator", "pydantic", "boto3", "botocore.client",
)

# Run in a fresh interpreter whose only path beyond the standard library is the unpacked bundle:
# import the app (and FIRST_REQUEST_IMPORTS), print the bundle's modules that were loaded.
_IMPORTS_PROBE = """
import importlib, json, sys
root = sys.argv[1]
sys.path.insert(0, root)
import app  # noqa: F401
for name in sys.argv[2:]:
    importlib.import_module(name)
loaded = {getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
print(json.dumps(sorted(f[len(root) + 1:] for f in loaded if f.startswith(root + "/") and f.endswith(".py"))))
"""


def imported_modules(unpacked: Path, first_request: tuple[str, ...] = FIRST_REQUEST_IMPORTS) -> list[str]:
    """The bundle's source files (relative names) a cold start and a first request import."""
    answer = subprocess.run(  # noqa: S603 - our own interpreter on our own bundle
        [sys.executable, "-I", "-S", "-B", "-c", _IMPORTS_PROBE, str(unpacked), *first_request],
        capture_output=True, text=True, check=True, env={**os.environ}, timeout=300,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def add_bytecode(package: Path) -> int:
    """Add compiled bytecode to the deployment zip for every module of the portal (app.py and
    chalicelib) and for each library module a cold start or a first request imports (Chalice ships
    sources only, and Lambda's read-only disk can't cache what it compiles): a cold start then
    loads those modules instead of compiling them on every new instance; a library module only a
    rare path needs is compiled when first imported, as before, and costs the bundle no bytes.
    The files are unchecked-hash .pyc, compiled from the zip's own sources and named for this
    Python version: Lambda's runtime uses them only if it is the same version, and otherwise
    compiles the sources as before. Returns how many were added."""
    with tempfile.TemporaryDirectory() as scratch:
        unpacked = Path(scratch) / "bundle"
        with zipfile.ZipFile(package) as existing:
            existing.extractall(unpacked)
            names = set(existing.namelist())
        if any("/__pycache__/" in name or name.startswith("__pycache__/") for name in names):
            raise ValueError(f"{package} already holds bytecode: it would be there twice")
        portal = {name for name in names
                  if name == "app.py" or (name.startswith("chalicelib/") and name.endswith(".py"))}
        sources = sorted(portal | {name for name in imported_modules(unpacked) if name in names})
        with zipfile.ZipFile(package, "a", zipfile.ZIP_DEFLATED) as zipped:
            for name in sources:
                compiled = Path(scratch) / "module.pyc"
                py_compile.compile(str(unpacked / name), cfile=str(compiled), dfile=name, doraise=True,
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
                zipped.write(compiled, importlib.util.cache_from_source(name))
    return len(sources)


# What `chalice package` reads of the project: the app, its modules, the stages' config and policies.
PACKAGED = ("app.py", "chalicelib", ".chalice")


def locked_project(scratch: Path, vendor: Path | None = None) -> Path:
    """A copy of what Chalice packages. Its requirements.txt is empty and its `vendor/` holds the
    libraries `infra.bundle` installed from the runtime lock (every package at its locked version,
    its locked hashes checked) and trimmed: Chalice copies them into the bundle as they are. (Not
    Chalice's cache of earlier bundles, `.chalice/deployments`.)"""
    project = scratch / "project"
    project.mkdir()
    for name in PACKAGED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "deployments"))
        else:
            shutil.copy2(source, project / name)
    (project / "requirements.txt").write_text("# the libraries are in vendor/ (infra/bundle.py)\n")
    if vendor is not None:
        shutil.copytree(vendor, project / "vendor", symlinks=True)
    return project


def lint(template_path: Path) -> int:
    """cfn-lint's exit status; errors set bit 2."""
    answer = subprocess.run([_tool("cfn-lint"), str(template_path)], capture_output=True, text=True, check=False)  # noqa: S603
    output = (answer.stdout + answer.stderr).strip()
    if output:
        print(output)
    return answer.returncode


def bundle_mib(package: Path) -> float:
    return package.stat().st_size / 2**20


STALE_SECONDS = 3 * 3600
# What a package is made from: when none of it changed, a package already made is the same package.
PACKAGE_INPUTS = ("app.py", "chalicelib", ".chalice", "infra", "requirements.lock")


def inputs_digest(stage: str) -> str:
    digest = hashlib.sha256(stage.encode())
    for name in PACKAGE_INPUTS:
        source = ROOT / name
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file()
                                                          and "__pycache__" not in p.parts
                                                          and "deployments" not in p.parts)
        for path in files:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _packaging_environment() -> dict[str, str]:
    """The caller's environment without what a stage or a local stack sets: a package is the same
    whoever asks for it (the suite's workers run with the local stage's settings and endpoints)."""
    keep = ("PATH", "HOME", "USER", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_DEFAULT_REGION")
    return {name: value for name, value in os.environ.items()
            if name in keep or name.startswith(("PIP_", "UV_", "XDG_", "LC_", "LANG"))}


def cached(stage: str = "prod", cache: Path = ROOT / "build" / "package-cache") -> Path:
    """The folder of a package of `stage` made from the tree as it is now (`sam.json`,
    `deployment.zip`, and `package.log`, the command's output): made by `python -m infra.package`
    unless one was already made from the same inputs. The tests that need a package share it;
    concurrent callers (the suite's workers) wait for one another instead of packaging twice.
    Raises RuntimeError, with the log, when packaging fails."""
    import fcntl

    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = cache / f"{stage}-{inputs_digest(stage)}"
        log, status = out / "package.log", out / "exit-status"
        if not status.exists():
            # Packages of older trees go once nobody can still be reading them (a caller keeps
            # the folder it was given for the length of a test module or a benchmark).
            for old in cache.glob(f"{stage}-*"):
                if old != out and time.time() - old.stat().st_mtime > STALE_SECONDS:
                    shutil.rmtree(old, ignore_errors=True)
            out.mkdir(exist_ok=True)
            answer = subprocess.run(  # noqa: S603 - this module, as `make package` runs it
                [sys.executable, "-m", "infra.package", "--stage", stage, "--out", str(out)],
                cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False, env=_packaging_environment(),
            )
            log.write_text(answer.stdout + answer.stderr)
            status.write_text(str(answer.returncode))
        if status.read_text() != "0":
            raise RuntimeError(f"packaging {stage} failed:\n{log.read_text()[-6000:]}")
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", default=str(ROOT / "build"))
    parser.add_argument("--no-lint", action="store_true")
    args = parser.parse_args(argv)

    environment = stage_environment(args.stage)
    os.environ.update(environment)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sys.path.insert(0, str(ROOT))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    merge_path = out / f"infra-{args.stage}.json"
    merge_path.write_text(json.dumps(merge_template(args.stage), indent=2, sort_keys=True) + "\n")

    with tempfile.TemporaryDirectory() as scratch:
        vendor = Path(scratch) / "vendor"
        bundle.build(vendor, Path(scratch))
        project = locked_project(Path(scratch), vendor)
        packaged = subprocess.run(  # noqa: S603 - our own chalice, our own arguments
            [_tool("chalice"), "package", "--stage", args.stage, "--merge-template", str(merge_path), str(out)],
            # Chalice imports the app to package it: no bytecode of that import may land in the zip.
            cwd=project, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=False,
        )
    if packaged.returncode:
        return packaged.returncode
    template_path = out / "sam.json"
    compiled = add_bytecode(out / "deployment.zip")
    print(f"packaged {args.stage}: {template_path}, deployment.zip {bundle_mib(out / 'deployment.zip'):.1f} MiB "
          f"({compiled} modules compiled)")
    if args.no_lint:
        return 0
    status = lint(template_path)
    if status == 1 or status & CFN_LINT_ERROR:
        print("cfn-lint found errors in the packaged template", file=sys.stderr)
        return 1
    print("cfn-lint: no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
