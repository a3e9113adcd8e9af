"""`make package` works: Chalice packages the prod stage with the infra merged in, and cfn-lint
finds no error in the result. Runs the same command as `make package` (once for every test that
needs a package: `infra.package.cached`)."""

from __future__ import annotations

import importlib.util
import json
import re
import zipfile
from pathlib import Path

import pytest
from chalice.app import ScheduledEventConfig, SNSEventConfig, SQSEventConfig
from chalice.utils import to_cfn_resource_name

from chalicelib.stages import ROOT, stage_environment
from chalicelib.store.tables import all_models
from infra.package import cached
from infra.policy import FUNCTIONS, policy_file
from infra.template import function_logical_ids

PROD = stage_environment("prod")
CONFIG = json.loads((ROOT / ".chalice/config.json").read_text())


@pytest.fixture(scope="module")
def package_dir() -> Path:
    out = cached("prod")
    assert "cfn-lint: no errors" in (out / "package.log").read_text()
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

    # Then no file is in the zip twice (an unzip would keep either)
    with zipfile.ZipFile(package_dir / "deployment.zip") as package:
        assert len(package.namelist()) == len(set(package.namelist()))
    # And every module of the portal has its .pyc for this Python, one that needs no source check
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

    # Then each is the version the lock pins (installed from the lock, hashes checked)
    assert {"boto3", "pydantic", "pynamodb", "argon2_cffi_bindings", "pydantic_core"} <= set(bundled)
    assert {name: version for name, version in bundled.items() if pins.get(name) != version} == {}
    # And every locked package is there but the ones the bundle leaves out, with their reasons
    from infra import bundle

    assert set(pins) - set(bundled) == {re.sub(r"[-_.]+", "_", name) for name in bundle.LEFT_OUT}
    assert all(reason.strip() for reason in bundle.LEFT_OUT.values())


def test_the_bundle_is_at_most_15_mib_and_carries_only_what_the_functions_use(package_dir):
    # When prod is packaged
    from infra import bundle

    zipped = package_dir / "deployment.zip"
    with zipfile.ZipFile(zipped) as package:
        names = package.namelist()

    # Then the zip is at most 15 MiB
    assert zipped.stat().st_size <= 15 * 2**20
    tops = {name.split("/")[0] for name in names}
    # And holds no CLI, installer or packaging tool, only chalice's app module
    for tool in ("pip", "setuptools", "wheel", "inquirer", "click", "blessed", "yaml", "PIL", "bin"):
        assert tool not in tops
    assert sorted(n for n in names if n.startswith("chalice/") and n.endswith(".py")) == ["chalice/__init__.py",
                                                                                          "chalice/app.py"]
    # And Babel's locale data only for the languages served (and their parent)
    locales = {n.rsplit("/", 1)[1] for n in names if n.startswith("babel/locale-data/")}
    assert locales == {"root.dat", "en.dat", "es.dat"}
    # And botocore's service models only for the services the code calls
    services = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 2}
    assert services == set(bundle.aws_services())
    assert {"dynamodb", "s3", "sqs", "sesv2"} <= services
    # And fhir.resources only its R4B models
    assert {n.split("/")[2] for n in names if n.startswith("fhir/resources/") and n.count("/") > 2} == {"R4B"}


def test_the_kept_aws_services_are_every_client_the_deployed_code_makes(tmp_path):
    # Given code that makes two clients (one in the local stack's code, which is never deployed)
    from infra import bundle

    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "things.py").write_text('aws.client("kinesis")\naws.client( "sqs" )\n')
    (tmp_path / "localstack").mkdir()
    (tmp_path / "localstack" / "x.py").write_text('aws.client("ec2")\n')

    # Then the trim keeps those the deployed code makes, and DynamoDB (PynamoDB's)
    assert bundle.aws_services(tmp_path) == ["dynamodb", "kinesis", "sqs"]


def test_chalice_packages_a_copy_of_the_project_with_the_trimmed_libraries_as_its_vendor_folder(tmp_path):
    # Given a folder of libraries (as infra.bundle builds them)
    from infra.package import PACKAGED, locked_project

    vendor = tmp_path / "built"
    (vendor / "somelib").mkdir(parents=True)
    (vendor / "somelib" / "__init__.py").write_text("")

    # When the project Chalice packages is prepared
    project = locked_project(tmp_path, vendor)

    # Then it holds the app, its modules and the stages' config, the libraries as vendor/, and no
    # requirement for Chalice to install
    assert sorted(path.name for path in project.iterdir()) == sorted([*PACKAGED, "requirements.txt", "vendor"])
    assert (project / "vendor" / "somelib" / "__init__.py").exists()
    assert not [line for line in (project / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]


def test_the_bundle_installs_the_runtime_lock_with_its_hashes_minus_what_it_leaves_out():
    # Given the runtime lock, and the lock the bundle installs from
    from infra import bundle

    text = bundle._lock_without(set(bundle.LEFT_OUT))
    pins = set(re.findall(r"^([A-Za-z0-9_.\-]+)==", text, re.MULTILINE))

    # Then every runtime pin but the left-out ones is installed, each still with its hashes
    assert {name.lower() for name in pins} == set(_locked_pins_raw()) - set(bundle.LEFT_OUT)
    assert text.count("--hash=sha256:") >= len(pins)
    # And Chalice's CLI and the packaging tools are not runtime requirements at all
    for tool in ("chalice", "click", "inquirer", "pip", "setuptools", "wheel", "blessed", "pyyaml"):
        assert tool not in _locked_pins_raw()


def _locked_pins_raw() -> list[str]:
    return [name.lower() for name in re.findall(r"^([A-Za-z0-9_.\-]+)==", (ROOT / "requirements.lock").read_text(),
                                                re.MULTILINE)]


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
                     "build-exports": ("EXPORT_QUEUE_NAME", "ExportQueue"),
                     "lab-results": ("LAB_QUEUE_NAME", "LabQueue")}[source.name]
            assert events[0]["Properties"]["Queue"]["Fn::Sub"].endswith(":" + PROD[queue[0]])
            assert queue[1] in function["DependsOn"]
            # a record the handler reports as failed is retried, not deleted with the batch
            assert events[0]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        elif isinstance(source, SNSEventConfig):
            assert events[0]["Type"] == "SNS"
            assert events[0]["Properties"]["Topic"]["Fn::Sub"].endswith(":" + PROD["MAIL_FEEDBACK_TOPIC"])
            assert "MailFeedbackTopic" in function["DependsOn"]


@pytest.mark.slow  # checkov (its own virtualenv): `make test` runs it, `make test-fast` leaves it out
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
                ("CKV_AWS_26", "AlarmTopic"), ("CKV_AWS_116", "MailFeedback"), ("CKV_AWS_115", "PublishUploads"),
                ("CKV_AWS_115", "APIHandler"), ("CKV_AWS_66", "APIHandlerLogGroup")):
        assert met not in failed
    # And every skip holds: each resource it names is in the template, and each skipped check fails
    template = json.loads((package_dir / "sam.json").read_text())["Resources"]
    for check_id, skip in skips.items():
        named = [r for r in skip["resources"] if r != "*"]
        assert set(named) <= set(template), f"{check_id} names resources the template lacks"
        assert any(f.check_id == check_id for f in failures), f"{check_id} is skipped but nothing fails it"


def test_every_table_bucket_and_key_survives_the_stack_and_tables_refuse_deletion(packaged):
    # When prod is packaged
    resources = packaged["Resources"]
    kept = {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key"}

    # Then every table, bucket and key is kept on stack deletion and on replacement
    state = {name: r for name, r in resources.items() if r["Type"] in kept}
    assert {r["Type"] for r in state.values()} == kept
    for name, resource in state.items():
        assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == ("Retain", "Retain"), name
    # And every table has deletion protection and point-in-time recovery
    for resource in state.values():
        if resource["Type"] == "AWS::DynamoDB::Table":
            assert resource["Properties"]["DeletionProtectionEnabled"] is True
            assert resource["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_api_stage_is_throttled_within_the_api_functions_reserved_concurrency(packaged):
    # Given the packaged API and its function
    from infra import gateway

    resources, parameters = packaged["Resources"], packaged["Parameters"]
    reserved = resources["APIHandler"]["Properties"]["ReservedConcurrentExecutions"]

    # Then every method of the stage is throttled by the rate and burst parameters
    [setting] = resources["RestAPI"]["Properties"]["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurst"}
    # And their defaults fit the reservation: a burst never wants more copies than are reserved, and
    # the steady rate at a sign-in's duration keeps at most half of them busy
    assert parameters["ApiThrottleBurst"]["Default"] <= reserved
    assert parameters["ApiThrottleRate"]["Default"] * gateway.SIGN_IN_SECONDS <= reserved / 2


def test_the_optional_waf_limits_sign_in_forgot_password_and_enrolment_and_adds_the_common_rules(packaged):
    # Given the packaged template
    resources, parameters = packaged["Resources"], packaged["Parameters"]

    # Then the web ACL exists only when EnableWaf is true, on the API's stage
    acl = resources["WebAcl"]
    assert acl["Condition"] == "UseWaf" and parameters["EnableWaf"]["AllowedValues"] == ["true", "false"]
    assert packaged["Conditions"]["UseWaf"] == {"Fn::Equals": [{"Ref": "EnableWaf"}, "true"]}
    association = resources["WebAclAssociation"]
    assert association["Condition"] == "UseWaf"
    assert "/restapis/${RestAPI}/stages/api" in association["Properties"]["ResourceArn"]["Fn::Sub"]
    # And its rate rule counts each address's requests to the sign-in, forgot-password and enrolment paths
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    rate = rules["sign-in-rate"]["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP" and rate["Limit"] == {"Ref": "WafSignInLimit"}
    paths = {s["ByteMatchStatement"]["SearchString"] for s in rate["ScopeDownStatement"]["OrStatement"]["Statements"]}
    assert {"/api/auth/login", "/sign-in", "/api/auth/forgot-password", "/forgot-password", "/api/auth/enrol"} <= paths
    assert rules["sign-in-rate"]["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    # And AWS's common rule set applies to everything
    managed = rules["aws-common"]["Statement"]["ManagedRuleGroupStatement"]
    assert (managed["VendorName"], managed["Name"]) == ("AWS", "AWSManagedRulesCommonRuleSet")


def test_the_account_wide_api_gateway_role_is_set_only_when_a_parameter_asks(packaged):
    # Given the packaged template
    resources = packaged["Resources"]

    # Then the role and the account setting exist only under SetApiGatewayAccountRole=true (false by default)
    assert packaged["Parameters"]["SetApiGatewayAccountRole"]["Default"] == "false"
    assert resources["ApiGatewayAccount"]["Condition"] == "SetsAccountRole"
    assert resources["ApiGatewayCloudWatchRole"]["Condition"] == "SetsAccountRole"
    # And the API waits for the setting when there is one, through a handle (a DependsOn can't be conditional)
    assert "ApiGatewayAccount" not in resources["RestAPI"].get("DependsOn", [])
    handle = resources["ApiGatewayAccountReady"]
    assert handle["Metadata"]["AccountSetting"]["Fn::If"][0] == "SetsAccountRole"
    assert "ApiGatewayAccountReady" in resources["RestAPI"]["DependsOn"]


def test_a_custom_domain_and_its_certificate_are_parameters(packaged):
    # Given the packaged template
    resources, parameters = packaged["Resources"], packaged["Parameters"]

    # Then with DomainName and CertificateArn the API's stage is served at that name's root
    assert parameters["DomainName"]["Default"] == "" and parameters["CertificateArn"]["Default"] == ""
    domain = resources["CustomDomain"]
    assert domain["Condition"] == "HasCustomDomain"
    assert domain["Properties"]["DomainName"] == {"Ref": "DomainName"}
    assert domain["Properties"]["RegionalCertificateArn"] == {"Ref": "CertificateArn"}
    assert domain["Properties"]["SecurityPolicy"] == "TLS_1_2"
    mapping = resources["CustomDomainMapping"]["Properties"]
    assert mapping["RestApiId"] == {"Ref": "RestAPI"} and mapping["Stage"] == "api" and "BasePath" not in mapping
    # And the output names where DNS must point
    assert packaged["Outputs"]["CustomDomainTarget"]["Condition"] == "HasCustomDomain"
