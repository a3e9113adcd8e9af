"""The API's front: stage throttling, an optional WAF, an optional custom domain, and the
account-wide API Gateway logging role only when asked (merged into the packaged template).

Throttling is sized against the API function's reserved concurrency (`.chalice/config.json`):
the burst never asks for more copies at once than are reserved, and the steady rate, at the
slowest ordinary request (a sign-in's Argon2 check), keeps at most half of them busy, the rest
left for cold starts. docs/deploying.md gives the arithmetic.
"""

from __future__ import annotations

from typing import Any

API_LOGICAL_ID = "RestAPI"
API_STAGE_RESOURCE = "RestAPIapiStage"  # what SAM names the stage it makes for Chalice's `api` stage
# A sign-in at 1024 MB (about 0.6 vCPU): Argon2id at 64 MiB and time cost 3 takes about a third
# of a second (the API function's memory_reason); rounded up.
SIGN_IN_SECONDS = 0.4
DEFAULT_RATE = 20  # requests a second, steady
DEFAULT_BURST = 25  # requests at once
WAF_DEFAULT_LIMIT = 100  # requests per client address in 5 minutes to the sign-in paths

# The paths a password guesser or an enumerator hits: sign-in (both doors, and its second
# factor), forgot password and username, and enrolment with a letter's code. Matched at the end of
# the URI, so the execute-api address's stage prefix (`/api/api/auth/login`) matches as well as the
# custom domain's (`/api/auth/login`).
RATE_LIMITED_PATHS = (
    "/api/auth/login", "/sign-in",
    "/api/auth/mfa/verify", "/mfa/verify",
    "/api/auth/forgot-password", "/forgot-password",
    "/api/forms/forgot-username", "/forms/forgot-username",
    "/api/auth/enrol", "/enrol",
)

TRUE_FALSE = ["true", "false"]


def parameters() -> dict[str, Any]:
    return {
        "ApiThrottleRate": {"Type": "Number", "Default": DEFAULT_RATE, "MinValue": 1,
                            "Description": "Steady requests a second the API stage accepts (docs/deploying.md sizes it)."},
        "ApiThrottleBurst": {"Type": "Number", "Default": DEFAULT_BURST, "MinValue": 1,
                             "Description": "Requests at once the API stage accepts; at most the API's reserved concurrency."},
        "EnableWaf": {"Type": "String", "Default": "false", "AllowedValues": TRUE_FALSE,
                      "Description": "A WAF web ACL on the API: a per-address rate limit on the sign-in, "
                                     "forgot-password and enrolment paths, and AWS's common rule set."},
        "WafSignInLimit": {"Type": "Number", "Default": WAF_DEFAULT_LIMIT, "MinValue": 10,
                           "Description": "Requests one address may make to those paths in 5 minutes (with EnableWaf)."},
        "DomainName": {"Type": "String", "Default": "",
                       "Description": "The portal's own address, e.g. portal.clinic.example (empty: none)."},
        "CertificateArn": {"Type": "String", "Default": "",
                           "Description": "The ACM certificate for DomainName, in the stack's region (empty: none)."},
        "SetApiGatewayAccountRole": {
            "Type": "String", "Default": "false", "AllowedValues": TRUE_FALSE,
            "Description": "Set the account's (region-wide) API Gateway CloudWatch role to one this stack makes. Only "
                           "when the account has none yet: it replaces any other stack's setting."},
    }


def conditions() -> dict[str, Any]:
    return {
        "UseWaf": {"Fn::Equals": [{"Ref": "EnableWaf"}, "true"]},
        "HasCustomDomain": {"Fn::And": [{"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]},
                                        {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]}]},
        "SetsAccountRole": {"Fn::Equals": [{"Ref": "SetApiGatewayAccountRole"}, "true"]},
    }


def stage_resources(api_name: str) -> dict[str, Any]:
    """Fragments merged into Chalice's API: its name (the 5XX alarm's dimension) and throttling
    on every method of the stage."""
    return {API_LOGICAL_ID: {"Properties": {
        "Name": api_name,
        "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*",
                            "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
                            "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"}}],
    }}}


def account_role_resources() -> dict[str, Any]:
    """API Gateway writes the stage's access log through the account's CloudWatch role, an
    account-wide setting. Set here only with SetApiGatewayAccountRole=true; otherwise the account
    must already have one (docs/deploying.md). The API waits for the setting when there is one
    (a handle whose metadata names it only then: a DependsOn cannot be conditional)."""
    return {
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "SetsAccountRole",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]},
                "ManagedPolicyArns": [
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Condition": "SetsAccountRole",
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}},
        },
        "ApiGatewayAccountReady": {
            "Type": "AWS::CloudFormation::WaitConditionHandle",
            "Metadata": {"AccountSetting": {"Fn::If": ["SetsAccountRole", {"Ref": "ApiGatewayAccount"}, "none"]}},
        },
        API_LOGICAL_ID: {"DependsOn": ["ApiGatewayAccountReady"]},
    }


def _path_ends_with(path: str) -> dict[str, Any]:
    return {"ByteMatchStatement": {"FieldToMatch": {"UriPath": {}}, "PositionalConstraint": "ENDS_WITH",
                                   "SearchString": path,
                                   "TextTransformations": [{"Priority": 0, "Type": "URL_DECODE"}]}}


def _visibility(name: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


def waf_resources(stage: str, app_name: str) -> dict[str, Any]:
    name = f"{app_name}-{stage}"
    return {
        "WebAcl": {
            "Type": "AWS::WAFv2::WebACL",
            "Condition": "UseWaf",
            "Properties": {
                "Name": name,
                "Scope": "REGIONAL",
                "DefaultAction": {"Allow": {}},
                "VisibilityConfig": _visibility(name),
                "CustomResponseBodies": {"rate-limited": {
                    "ContentType": "APPLICATION_JSON",
                    "Content": '{"error": "rate_limited", "message": "Too many attempts. Try again in a few minutes."}'}},
                "Rules": [
                    {
                        "Name": "sign-in-rate",
                        "Priority": 0,
                        "Action": {"Block": {"CustomResponse": {
                            "ResponseCode": 429, "CustomResponseBodyKey": "rate-limited",
                            "ResponseHeaders": [{"Name": "Retry-After", "Value": "300"}]}}},
                        "Statement": {"RateBasedStatement": {
                            "Limit": {"Ref": "WafSignInLimit"},
                            "AggregateKeyType": "IP",
                            "ScopeDownStatement": {"OrStatement": {
                                "Statements": [_path_ends_with(path) for path in RATE_LIMITED_PATHS]}},
                        }},
                        "VisibilityConfig": _visibility(f"{name}-sign-in-rate"),
                    },
                    {
                        "Name": "aws-common",
                        "Priority": 1,
                        "OverrideAction": {"None": {}},
                        "Statement": {"ManagedRuleGroupStatement": {
                            "VendorName": "AWS",
                            "Name": "AWSManagedRulesCommonRuleSet",
                            # A message may be 10,000 characters: counted, not blocked, above 8 KB.
                            "RuleActionOverrides": [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}],
                        }},
                        "VisibilityConfig": _visibility(f"{name}-aws-common"),
                    },
                ],
            },
        },
        "WebAclAssociation": {
            "Type": "AWS::WAFv2::WebACLAssociation",
            "Condition": "UseWaf",
            "DependsOn": [API_STAGE_RESOURCE],
            "Properties": {
                "WebACLArn": {"Fn::GetAtt": ["WebAcl", "Arn"]},
                "ResourceArn": {"Fn::Sub": f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/"
                                           f"${{{API_LOGICAL_ID}}}/stages/api"},
            },
        },
    }


def domain_resources() -> dict[str, Any]:
    """The portal on the clinic's own name: a regional custom domain with the certificate, the API's
    stage mapped at its root. DNS: a CNAME (or alias) from DomainName to the output CustomDomainTarget."""
    return {
        "CustomDomain": {
            "Type": "AWS::ApiGateway::DomainName",
            "Condition": "HasCustomDomain",
            "Properties": {
                "DomainName": {"Ref": "DomainName"},
                "RegionalCertificateArn": {"Ref": "CertificateArn"},
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
                "SecurityPolicy": "TLS_1_2",
            },
        },
        "CustomDomainMapping": {
            "Type": "AWS::ApiGateway::BasePathMapping",
            "Condition": "HasCustomDomain",
            "DependsOn": [API_STAGE_RESOURCE],
            "Properties": {"DomainName": {"Ref": "CustomDomain"}, "RestApiId": {"Ref": API_LOGICAL_ID}, "Stage": "api"},
        },
    }


def outputs() -> dict[str, Any]:
    return {
        "CustomDomainTarget": {"Condition": "HasCustomDomain",
                               "Description": "Point DomainName here (a CNAME, or a Route 53 alias)",
                               "Value": {"Fn::GetAtt": ["CustomDomain", "RegionalDomainName"]}},
        "CustomDomainHostedZoneId": {"Condition": "HasCustomDomain",
                                     "Value": {"Fn::GetAtt": ["CustomDomain", "RegionalHostedZoneId"]}},
    }
