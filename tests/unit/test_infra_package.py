"""`make package` works: Chalice packages the prod stage with the infra merged in, and cfn-lint
finds no error in the result. Runs the same command as `make package`, into a temporary folder."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from chalice.app import ScheduledEventConfig, SNSEventConfig, SQSEventConfig
from chalice.utils import to_cfn_resource_name

from chalicelib.stages import ROOT, stage_environment
from chalicelib.store.tables import all_models

PROD = stage_environment("prod")


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

    # And the functions use the stage's hand-written policy, not a generated one
    role = resources["ApiHandlerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert role == json.loads((ROOT / ".chalice/policy-prod.json").read_text())


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
                     "password-recovery": ("RECOVERY_QUEUE_NAME", "RecoveryQueue")}[source.name]
            assert events[0]["Properties"]["Queue"]["Fn::Sub"].endswith(":" + PROD[queue[0]])
            assert queue[1] in function["DependsOn"]
            # a record the handler reports as failed is retried, not deleted with the batch
            assert events[0]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        elif isinstance(source, SNSEventConfig):
            assert events[0]["Type"] == "SNS"
            assert events[0]["Properties"]["Topic"]["Fn::Sub"].endswith(":" + PROD["MAIL_FEEDBACK_TOPIC"])
            assert "MailFeedbackTopic" in function["DependsOn"]
