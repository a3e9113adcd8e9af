"""`make deploy STAGE=prod`: package the stage, then `sam deploy` the packaged template with the
stage's samconfig (`infra/samconfig-<stage>.toml`: stack, region, the artifact bucket SAM manages,
and the template's parameters: AlarmEmail, throttling, WAF, custom domain and certificate).

    python -m infra.deploy --stage prod                       # package, then deploy
    python -m infra.deploy --stage prod --no-execute-changeset  # stop at the change set, for review
    python -m infra.deploy --stage prod --dry-run             # print the commands, run nothing

Before anything runs, the samconfig is checked against the packaged template: every parameter it
sets exists, every parameter without a default is set, and DomainName (when set) is the host of
the stage's PORTAL_URL (the links in every mail are built from PORTAL_URL).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from chalicelib.stages import ROOT, stage_environment

SAM_VENV = ROOT / ".venv-sam" / "bin" / "sam"
# What a deploy must acknowledge: the functions' roles (IAM), and SAM's transform (a macro).
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")


def samconfig_path(stage: str) -> Path:
    return ROOT / "infra" / f"samconfig-{stage}.toml"


def samconfig(stage: str) -> dict:
    """The `default` environment's deploy parameters of the stage's samconfig."""
    return tomllib.loads(samconfig_path(stage).read_text())["default"]["deploy"]["parameters"]


def parameter_overrides(stage: str) -> dict[str, str]:
    """The samconfig's parameter_overrides (`Name="value" …` or a list of `Name=value`) as a dict."""
    overrides = samconfig(stage).get("parameter_overrides", [])
    items = shlex.split(overrides) if isinstance(overrides, str) else list(overrides)
    return dict(item.split("=", 1) for item in items)


def check(stage: str, template: dict) -> list[str]:
    """What is wrong with the stage's samconfig for this packaged template (nothing: [])."""
    problems = []
    declared = template.get("Parameters", {})
    given = parameter_overrides(stage)
    problems += [f"{name} is not a parameter of the template" for name in sorted(set(given) - set(declared))]
    problems += [f"{name} has no default and the samconfig does not set it"
                 for name, spec in sorted(declared.items()) if "Default" not in spec and not given.get(name)]
    domain = given.get("DomainName", "")
    portal_host = urlsplit(stage_environment(stage).get("PORTAL_URL", "")).hostname or ""
    if domain and domain != portal_host:
        problems.append(f"DomainName {domain} is not the host of the stage's PORTAL_URL ({portal_host})")
    if bool(domain) != bool(given.get("CertificateArn", "")):
        problems.append("DomainName and CertificateArn go together")
    config = samconfig(stage)
    for key in ("stack_name", "region"):
        if not config.get(key):
            problems.append(f"the samconfig names no {key}")
    return problems


def sam() -> str:
    return str(SAM_VENV) if SAM_VENV.exists() else (shutil.which("sam") or "sam")


def deploy_command(stage: str, template_path: Path, *, execute: bool = True) -> list[str]:
    """`sam deploy` of the packaged template with the stage's samconfig (SAM uploads
    deployment.zip, which the template names beside itself, to its managed bucket)."""
    command = [sam(), "deploy", "--template-file", str(template_path), "--config-file", str(samconfig_path(stage)),
               "--config-env", "default", "--capabilities", *CAPABILITIES, "--no-fail-on-empty-changeset"]
    if not execute:
        command.append("--no-execute-changeset")
    return command


def package_command(stage: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "infra.package", "--stage", stage, "--out", str(out)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", help="where to package (default build/deploy-<stage>)")
    parser.add_argument("--packaged", help="a folder already packaged for the stage (sam.json, deployment.zip)")
    parser.add_argument("--no-execute-changeset", action="store_true",
                        help="create the change set and stop (review it in the console, then execute it)")
    parser.add_argument("--dry-run", action="store_true", help="check and print the commands, run nothing")
    args = parser.parse_args(argv)

    if args.stage == "local" or not samconfig_path(args.stage).exists():
        print(f"no samconfig for stage {args.stage!r}: {samconfig_path(args.stage).relative_to(ROOT)}", file=sys.stderr)
        return 2
    out = Path(args.packaged or args.out or ROOT / "build" / f"deploy-{args.stage}").resolve()
    steps = [] if args.packaged else [package_command(args.stage, out)]
    steps.append(deploy_command(args.stage, out / "sam.json", execute=not args.no_execute_changeset))
    if args.dry_run:
        for step in steps:
            print(shlex.join(step))
    for n, step in enumerate(steps):
        if n == len(steps) - 1:  # the template exists now: check the samconfig against it
            template = out / "sam.json"
            problems = check(args.stage, json.loads(template.read_text())) if template.exists() else []
            for problem in problems:
                print(f"samconfig-{args.stage}.toml: {problem}", file=sys.stderr)
            if problems:
                return 1
        if args.dry_run:
            continue
        status = subprocess.run(step, cwd=ROOT, check=False).returncode  # noqa: S603 - our own commands
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
