"""`make package`: the stage's CloudFormation template in `build/`, checked by cfn-lint.

1. the stage's environment variables from `.chalice/config.json` are set first, so the app and
   the models see the stage's names (queue, topic, table prefix) exactly as Lambda will;
2. `infra.template` writes the merge template (tables from the models, bucket, queues, SES, SNS);
3. `chalice package --merge-template` writes `sam.json` and `deployment.zip`, from a copy of the
   project whose requirements.txt is `requirements.lock` (every bundled package pinned and hashed);
4. the portal's own modules are compiled into the zip beside their sources (`add_bytecode`);
5. cfn-lint checks the packaged template; errors fail the command, warnings are shown.

    python -m infra.package [--stage prod] [--out build] [--no-lint]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from chalicelib.stages import ROOT, deployment_settings, stage_environment  # stdlib only: safe before the stage's env is set

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


def add_bytecode(package: Path) -> int:
    """Add compiled bytecode for app.py and chalicelib to the deployment zip (Chalice ships sources
    only, and Lambda's read-only disk can't cache what it compiles): a cold start then loads the
    portal's modules instead of compiling them on every new instance. The files are unchecked-hash
    .pyc, named for this Python version: Lambda's runtime uses them only if it is the same
    version, and otherwise compiles the sources as before. Returns how many were added."""
    with zipfile.ZipFile(package) as existing:
        sources = [name for name in existing.namelist()
                   if name == "app.py" or (name.startswith("chalicelib/") and name.endswith(".py"))]
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(package, "a", zipfile.ZIP_DEFLATED) as zipped:
        for name in sources:
            compiled = Path(scratch) / "module.pyc"
            py_compile.compile(str(ROOT / name), cfile=str(compiled), dfile=name, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            zipped.write(compiled, importlib.util.cache_from_source(name))
    return len(sources)


# What `chalice package` reads of the project: the app, its modules, the stages' config and policies.
PACKAGED = ("app.py", "chalicelib", ".chalice")


def locked_project(scratch: Path) -> Path:
    """A copy of what Chalice packages, whose requirements.txt is the runtime lock: every package of
    the Lambda bundle, indirect ones included, at its locked version and checked against its locked
    hashes (pip's hash-checking mode), as `make deps` installs them. (Not Chalice's cache of earlier
    bundles, `.chalice/deployments`: each package is built from the lock.)"""
    project = scratch / "project"
    project.mkdir()
    for name in PACKAGED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "deployments"))
        else:
            shutil.copy2(source, project / name)
    shutil.copy2(ROOT / "requirements.lock", project / "requirements.txt")
    return project


def lint(template_path: Path) -> int:
    """cfn-lint's exit status; errors set bit 2."""
    answer = subprocess.run([_tool("cfn-lint"), str(template_path)], capture_output=True, text=True, check=False)  # noqa: S603
    output = (answer.stdout + answer.stderr).strip()
    if output:
        print(output)
    return answer.returncode


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
        project = locked_project(Path(scratch))
        packaged = subprocess.run(  # noqa: S603 - our own chalice, our own arguments
            [_tool("chalice"), "package", "--stage", args.stage, "--merge-template", str(merge_path), str(out)],
            cwd=project, env={**os.environ}, check=False,
        )
    if packaged.returncode:
        return packaged.returncode
    template_path = out / "sam.json"
    print(f"packaged {args.stage}: {template_path} ({add_bytecode(out / 'deployment.zip')} modules compiled)")
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
