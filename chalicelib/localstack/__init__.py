"""The local stand-ins for AWS and the runner that wires them (never deployed)."""
