"""What each Lambda function is given in `.chalice/config.json`, read the way `chalice package`
reads it (a function's own setting, then its stage's, then the file's; Chalice's default last)."""

from __future__ import annotations

import json
from pathlib import Path

from chalice.config import Config
from chalice.constants import DEFAULT_LAMBDA_MEMORY_SIZE

ROOT = Path(__file__).resolve().parents[1]
STAGE = "prod"
API_FUNCTION = "api_handler"  # Chalice's name for the function that serves every route
PUBLISHER = "publish-uploads"
SWEEP = "follow-up-sweep"
OUTBOX_SENDER = "outbox-sender"


def memory_mb(function: str, stage: str = STAGE) -> int:
    """The memory `function` is configured with on `stage`, in MB (read now, not cached)."""
    on_disk = json.loads((ROOT / ".chalice" / "config.json").read_text())
    configured = Config(chalice_stage=stage, function_name=function, config_from_disk=on_disk).lambda_memory_size
    return int(configured or DEFAULT_LAMBDA_MEMORY_SIZE)
