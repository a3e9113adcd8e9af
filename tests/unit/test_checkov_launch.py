"""`infra/checkov_launch.py`: checkov's JSONPath parser builds its PLY tables once per grammar, and
parses exactly as before (run in checkov's own virtualenv, where PLY and bc_jsonpath_ng live)."""

from __future__ import annotations

import json
import subprocess

import pytest

from chalicelib.stages import ROOT
from infra.scan import CHECKOV

pytestmark = pytest.mark.slow  # needs checkov's virtualenv, which `make test` makes

PROBE = """
import importlib.util, json, sys
import ply.yacc
from bc_jsonpath_ng.ext import parse

spec = importlib.util.spec_from_file_location("checkov_launch", sys.argv[1])
launch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launch)

PATHS = ["Resources.Api.Properties.Name", "Resources.*.Properties.Tags[1].Value", "$..Ref",
         "Resources.Api.Properties.Tags[?(@.Key == 'team')].Value", "Outputs.Url.Value"]
DATA = {"Resources": {"Api": {"Properties": {"Name": "portal", "Tags": [{"Key": "team", "Value": "clinic"},
                                                                       {"Key": "tier", "Value": "web"}]}},
                      "Fn": {"Ref": "Api", "Properties": {"Tags": [{"Key": "a"}, {"Key": "b", "Value": "x"}]}}},
        "Outputs": {"Url": {"Value": {"Ref": "Api"}}}}

def parsed():
    return [(str(parse(path)), [str(match.value) for match in parse(path).find(DATA)]) for path in PATHS]

built = []
real = ply.yacc.yacc
def counting(*args, **options):
    built.append(1)
    return real(*args, **options)

ply.yacc.yacc = counting
before, built_before = parsed(), len(built)
built.clear()
launch.build_tables_once()
after = parsed() + parsed()
print(json.dumps({"before": before, "after": after[:len(before)], "again": after[len(before):],
                  "built_before": built_before, "built_after": len(built)}))
"""


def test_checkovs_jsonpath_parser_builds_its_tables_once_and_parses_as_before():
    # Given checkov's interpreter, and JSONPath expressions of the kinds checkov renders
    # When they are parsed and matched as bc_jsonpath_ng does alone, then under the launcher's change, twice
    answer = subprocess.run([str(CHECKOV.parent / "python"), "-c", PROBE, str(ROOT / "infra" / "checkov_launch.py")],
                            capture_output=True, text=True, check=True, timeout=120)
    seen = json.loads(answer.stdout)

    # Then bc_jsonpath_ng alone built a table for every parse, the launcher one for all of them
    assert seen["built_before"] == 2 * 5
    assert seen["built_after"] == 1
    # And every expression parsed and matched the same, the second time too
    assert seen["after"] == seen["before"] and seen["again"] == seen["before"]
    assert ["portal"] in [matches for _, matches in seen["before"]]
