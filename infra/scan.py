"""checkov on the packaged template: every failed check must be listed, with its reason, in
`infra/checkov-skips.yaml`. checkov lives in a virtualenv of its own (`.venv-checkov`, from
`infra/checkov-requirements.txt`, made by the Makefile), away from the portal's pins.

    python -m infra.scan [build/sam.json]      # after `make package`
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from chalicelib.stages import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SKIPS = ROOT / "infra" / "checkov-skips.yaml"


@dataclass(frozen=True)
class Failure:
    check_id: str
    resource: str  # checkov's "<Type>.<LogicalId>"
    name: str

    @property
    def logical_id(self) -> str:
        return self.resource.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        return f"{self.check_id} on {self.logical_id}: {self.name}"


def load_skips(path: Path = SKIPS) -> dict[str, dict]:
    skips = yaml.safe_load(path.read_text()) or {}
    for check_id, skip in skips.items():
        if not str(skip.get("reason", "")).strip() or not skip.get("resources"):
            raise ValueError(f"{path.name}: {check_id} needs its resources and a reason")
    return skips


def checkov_command(launcher: bool = True) -> list[str]:
    """checkov as `infra/checkov_launch.py` starts it (the JSONPath parse tables built once: the
    same findings in a tenth of the time), or as its own script does (`launcher=False`)."""
    if not launcher:
        return [str(CHECKOV)]
    return [str(CHECKOV.parent / "python"), str(ROOT / "infra" / "checkov_launch.py")]


def run_checkov(template: Path, launcher: bool = True) -> list[Failure]:
    if not CHECKOV.exists():
        raise FileNotFoundError(f"{CHECKOV} is missing: `make .venv-checkov/.installed` makes it")
    answer = subprocess.run(  # noqa: S603 - our own checkov on our own template
        [*checkov_command(launcher), "--file", str(template), "--framework", "cloudformation", "--quiet", "--compact",
         "--output", "json", "--skip-download"],
        capture_output=True, text=True, check=False, timeout=900,
    )
    if answer.returncode not in (0, 1):  # 1: some check failed
        raise RuntimeError(f"checkov exited {answer.returncode}: {answer.stderr[-2000:]}")
    reports = json.loads(answer.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    return [Failure(check["check_id"], check["resource"], check["check_name"])
            for report in reports if isinstance(report, dict) and "results" in report
            for check in report["results"]["failed_checks"]]


def unexpected(failures: list[Failure], skips: dict[str, dict]) -> list[Failure]:
    """The failures no skip covers."""
    def skipped(failure: Failure) -> bool:
        resources = skips.get(failure.check_id, {}).get("resources", [])
        return "*" in resources or failure.logical_id in resources

    return [failure for failure in failures if not skipped(failure)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    template = Path(argv[0]) if argv else ROOT / "build" / "sam.json"
    failures = run_checkov(template)
    left = unexpected(failures, load_skips())
    print(f"checkov: {len(failures)} failed checks, {len(failures) - len(left)} listed in {SKIPS.name}")
    for failure in left:
        print(f"  not listed: {failure}", file=sys.stderr)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
