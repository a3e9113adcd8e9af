"""`bin/portal --help` lists the operator's commands, the upgrade and backup ones included."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bin_portal_help_lists_migrate_backup_and_restore():
    # When an operator asks bin/portal for its commands
    done = subprocess.run([str(ROOT / "bin" / "portal"), "--help"], capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})

    # Then it lists them, the upgrade and backup commands among them
    assert done.returncode == 0, done.stderr
    listed = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    assert {"migrate", "backup", "restore", "sweep", "export-audit"} <= listed
