"""The stages of `.chalice/config.json` (local, dev, prod) and the environment each one gives.

Read by the packaging (`infra`), the operators' CLI and the local stack before any setting is
loaded: standard library only, so it is safe to import before the stage's environment is set.
Deployed functions never call it; they get the same variables from Lambda's environment.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def stage_environment(stage: str = "local") -> dict[str, str]:
    """The environment variables `.chalice/config.json` gives a stage (shared ones first)."""
    config = json.loads((ROOT / ".chalice/config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


# The deployment's own settings in `.chalice/config.json` (a stage's value first, then the top
# level's), which the packaging reads and Chalice ignores.
DEPLOYMENT_SETTINGS = {
    "log_group_retention_days": 365,  # every function's log group and the API's access log
    "kms_key_arn": None,  # a customer-managed key for the tables, bucket, queues, topic and logs
}


def deployment_settings(stage: str) -> dict:
    config = json.loads((ROOT / ".chalice/config.json").read_text())
    stage_config = config["stages"][stage]
    return {name: next((c[name] for c in (stage_config, config) if c.get(name) is not None), default)
            for name, default in DEPLOYMENT_SETTINGS.items()}
