"""`make package` works: Chalice packages the prod stage with the infra merged in, and cfn-lint
finds no error in the result. Runs the same command as `make package`, into a temporary folder."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from chalice.app import ScheduledEventConfig, SNSEventConfig, SQSEventConfig
from chalice.utils import to_cfn_resource_name

from chalicelib.stages import ROOT, stage_environment
from chalicelib.store.tables import all_models
from infra.policy import FUNCTIONS, policy_file
from infra.template import function_logical_ids

PROD = stage_environment("prod")
CONFIG = json.loads((ROOT / ".chalice/config.json").read_text())


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("package")
    answer = subprocess.run([sys.executable, "-m", "infra.package", "--stage", "prod", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "cfn-lint: no errors" in answer.stdout
    return out


@pytest.fixture(scope="module")
def packaged(package_dir) -> dict:
    return json.loads((package_dir / "sam.json").read_text())


def test_the_package_carries_bytecode_for_every_module_of_the_portal(package_dir):
    # When prod is packaged
    with zipfile.ZipFile(package_dir / "deployment.zip") as package:
        names = set(package.namelist())
        sources = sorted(n for n in names if n == "app.py" or (n.startswith("chalicelib/") and n.endswith(".py")))
        compiled = {name: package.read(importlib.util.cache_from_source(name)) for name in sources
                    if importlib.util.cache_from_source(name) in names}

    # Then every module of the portal has its .pyc for this Python, one that needs no source check
    assert "app.py" in sources and "chalicelib/api/http.py" in sources
    assert sorted(compiled) == sources
    unchecked_hash = 0b01  # PEP 552 flags: hash-based, not checked against the source
    for pyc in compiled.values():
        assert pyc[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(pyc[4:8], "little") == unchecked_hash


def _locked_pins() -> dict[str, str]:
    """Package name (normalized) -> version, as requirements.lock pins it."""
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    return {re.sub(r"[-_.]+", "_", name).lower(): version for name, version in pins}


def test_every_package_in_the_bundle_is_the_locked_version(package_dir):
    # Given the runtime lock's pins (every package, indirect ones included, with its hashes)
    pins = _locked_pins()

    # When prod is packaged, every package in the Lambda bundle names its version in its dist-info
    with zipfile.ZipFile(package_dir / "deployment.zip") as package:
        bundled = {re.sub(r"[-_.]+", "_", match.group(1)).lower(): match.group(2)
                   for name in package.namelist()
                   if (match := re.match(r"^([^/]+)-([^-/]+)\.dist-info/METADATA$", name))}

    # Then each is the version the lock pins (Chalice installed from the lock, hashes checked)
    assert {"boto3", "pydantic", "pynamodb", "argon2_cffi_bindings", "pydantic_core"} <= set(bundled)
    assert {name: version for name, version in bundled.items() if pins.get(name) != version} == {}


def test_chalice_packages_a_copy_of_the_project_whose_requirements_are_the_lock(tmp_path):
    # When the project Chalice packages is prepared
    from infra.package import PACKAGED, locked_project

    project = locked_project(tmp_path)

    # Then it holds the app, its modules and the stages' config, and requirements.txt is the lock
    assert sorted(path.name for path in project.iterdir()) == sorted([*PACKAGED, "requirements.txt"])
    assert (project / "requirements.txt").read_text() == (ROOT / "requirements.lock").read_text()
    assert "--hash=sha256:" in (project / "requirements.txt").read_text()


def test_packaged_prod_template_holds_every_table_and_the_stage_resources(packaged):
    # When prod is packaged (and cfn-lint passed, in the fixture)
    resources = packaged["Resources"]

    # Then every model's table is in it, with the bucket, queues, topic and SES configuration set
    names = {r["Properties"].get("TableName") for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"}
    assert len(names) == len(all_models())
    assert all(name.startswith(PROD["TABLE_PREFIX"] + "-") for name in names)
    for logical_id in ("ResultsBucket", "PublishQueue", "PublishDeadLetterQueue", "PublishQueuePolicy",
                       "MailFeedbackTopic", "MailConfigurationSet", "MailFeedbackDestination"):
        assert logical_id in resources

    # And each function has a role of its own, holding that function's committed policy, not a generated one
    roles = set()
    for function, logical_id in function_logical_ids(_event_sources()).items():
        properties = resources[logical_id]["Properties"]
        role = properties["Role"]["Fn::GetAtt"][0]
        roles.add(role)
        document = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]
        assert document == json.loads((ROOT / ".chalice" / policy_file("prod", function)).read_text())
        # with the memory and reserved concurrency `.chalice/config.json` gives it, and a reason
        settings = CONFIG["lambda_functions"][function]
        assert properties["MemorySize"] == settings["lambda_memory_size"]
        assert settings["memory_reason"]
        assert properties.get("ReservedConcurrentExecutions") == settings.get("reserved_concurrency")
    assert len(roles) == len(FUNCTIONS)


def _event_sources() -> list:
    from app import app

    return list(app.event_sources)


def test_every_event_handler_is_wired_to_the_stage_resources(packaged):
    # Given the app's event handlers
    from app import app

    resources = packaged["Resources"]

    # Then each is a function with its event, and queue/topic subscribers wait for the queue/topic
    for source in app.event_sources:
        function = resources[to_cfn_resource_name(source.name)]
        events = list(function["Properties"]["Events"].values())
        if isinstance(source, ScheduledEventConfig):
            assert events[0]["Type"] == "Schedule"
        elif isinstance(source, SQSEventConfig):
            assert events[0]["Type"] == "SQS"
            queue = {"publish-uploads": ("PUBLISH_QUEUE_NAME", "PublishQueue"),
                     "password-recovery": ("RECOVERY_QUEUE_NAME", "RecoveryQueue"),
                     "build-exports": ("EXPORT_QUEUE_NAME", "ExportQueue")}[source.name]
            assert events[0]["Properties"]["Queue"]["Fn::Sub"].endswith(":" + PROD[queue[0]])
            assert queue[1] in function["DependsOn"]
            # a record the handler reports as failed is retried, not deleted with the batch
            assert events[0]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        elif isinstance(source, SNSEventConfig):
            assert events[0]["Type"] == "SNS"
            assert events[0]["Properties"]["Topic"]["Fn::Sub"].endswith(":" + PROD["MAIL_FEEDBACK_TOPIC"])
            assert "MailFeedbackTopic" in function["DependsOn"]


@pytest.mark.slow  # about a minute of checkov; `make test` runs it, `make test-fast` leaves it out
def test_checkov_fails_no_check_on_the_packaged_template_beyond_the_reasoned_skips(package_dir):
    # Given checkov (its own virtualenv, made by `make test`) and the reasoned skip file
    from infra import scan

    skips = scan.load_skips()

    # When it scans the packaged prod template
    failures = scan.run_checkov(package_dir / "sam.json")

    # Then every failed check is one the skip file lists, with its reason
    left = scan.unexpected(failures, skips)
    assert not left, "checkov failures not in infra/checkov-skips.yaml:\n" + "\n".join(f"  {f}" for f in left)
    # And the checks the portal meets are not among them: access logs, log groups, DLQ, topic encryption
    failed = {(f.check_id, f.logical_id) for f in failures}
    for met in (("CKV_AWS_18", "ResultsBucket"), ("CKV_AWS_76", "RestAPI"), ("CKV_AWS_26", "MailFeedbackTopic"),
                ("CKV_AWS_116", "MailFeedback"), ("CKV_AWS_115", "PublishUploads"), ("CKV_AWS_66", "APIHandlerLogGroup")):
        assert met not in failed
