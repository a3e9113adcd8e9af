"""`make deploy` cannot run here (no AWS account): its command line is proven by a dry run on the
packaged template, and the stage's samconfig is checked against that template."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.stages import ROOT
from infra import deploy
from infra.package import cached


@pytest.fixture(scope="module")
def package_dir() -> Path:
    return cached("prod")


def _dry_run(*args: str) -> list[list[str]]:
    answer = subprocess.run([sys.executable, "-m", "infra.deploy", "--dry-run", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return [shlex.split(line) for line in answer.stdout.splitlines() if line.strip()]


def test_the_dry_run_shows_sam_deploying_the_packaged_template_with_the_stages_samconfig(package_dir):
    # When prod's deploy is dry-run on its package, stopping at the change set
    [command] = _dry_run("--stage", "prod", "--packaged", str(package_dir), "--no-execute-changeset")

    # Then it is `sam deploy` of that template, with the stage's samconfig and the capabilities the
    # roles and SAM's transform need, creating the change set without executing it
    assert Path(command[0]).name == "sam" and command[1] == "deploy"
    assert command[command.index("--template-file") + 1] == str(package_dir / "sam.json")
    assert command[command.index("--config-file") + 1] == str(ROOT / "infra" / "samconfig-prod.toml")
    capabilities = command[command.index("--capabilities") + 1:command.index("--capabilities") + 3]
    assert capabilities == ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    assert "--no-execute-changeset" in command
    # And the template names its bundle beside itself, where SAM uploads it from
    template = json.loads((package_dir / "sam.json").read_text())
    assert template["Resources"]["APIHandler"]["Properties"]["CodeUri"] == "./deployment.zip"
    assert (package_dir / "deployment.zip").exists()


def test_without_a_package_the_deploy_packages_the_stage_first_and_executes_the_change_set():
    # When dev's deploy is dry-run from nothing
    package, command = _dry_run("--stage", "dev")

    # Then it packages dev into its own folder, then deploys that, executing the change set
    out = ROOT / "build" / "deploy-dev"
    assert package[1:] == ["-m", "infra.package", "--stage", "dev", "--out", str(out)]
    assert command[command.index("--template-file") + 1] == str(out / "sam.json")
    assert command[command.index("--config-file") + 1] == str(ROOT / "infra" / "samconfig-dev.toml")
    assert "--no-execute-changeset" not in command


def test_make_deploy_runs_the_deploy_for_the_stage_with_its_flags():
    # When make is asked what `make deploy` would run
    answer = subprocess.run(["make", "-n", "deploy", "STAGE=dev", "DEPLOY_FLAGS=--no-execute-changeset"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)

    # Then it runs the deploy module for that stage with those flags
    assert answer.returncode == 0, answer.stderr
    assert "-m infra.deploy --stage dev --no-execute-changeset" in answer.stdout


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_each_stages_samconfig_fits_the_packaged_template(package_dir, stage):
    # Given the packaged template (every stage's has the same parameters)
    template = json.loads((package_dir / "sam.json").read_text())

    # Then the stage's samconfig sets only the template's parameters, every required one, a stack and a region
    assert deploy.check(stage, template) == []
    assert deploy.parameter_overrides(stage)["AlarmEmail"]
    assert deploy.samconfig(stage)["stack_name"] == f"patient-portal-{stage}"


def test_a_samconfig_that_does_not_fit_is_refused_before_anything_runs(package_dir, tmp_path, monkeypatch):
    # Given a samconfig with an unknown parameter, no AlarmEmail, and a domain that is not PORTAL_URL's,
    # without its certificate
    wrong = tmp_path / "samconfig-prod.toml"
    wrong.write_text('version = 0.1\n[default.deploy.parameters]\nstack_name = "patient-portal-prod"\n'
                     'region = "us-east-1"\nparameter_overrides = ["Colour=blue", "DomainName=portal.other.example"]\n')
    monkeypatch.setattr(deploy, "samconfig_path", lambda stage: wrong)
    template = json.loads((package_dir / "sam.json").read_text())

    # Then the check names each problem
    problems = deploy.check("prod", template)
    assert "Colour is not a parameter of the template" in problems
    assert "AlarmEmail has no default and the samconfig does not set it" in problems
    assert any("DomainName portal.other.example is not the host of the stage's PORTAL_URL" in p for p in problems)
    assert "DomainName and CertificateArn go together" in problems
    # And the deploy stops there, running nothing
    assert deploy.main(["--stage", "prod", "--packaged", str(package_dir), "--dry-run"]) == 1


def test_the_local_stage_is_never_deployed():
    # Then a deploy of the local stage is refused
    assert deploy.main(["--stage", "local", "--dry-run"]) == 2
