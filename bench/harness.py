"""The portal as benchmarks use it: served over HTTP on the local stack, with an admin and staff."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.http import Portal

ADMIN_PASSWORD = "bench-Ox-lantern-93-quiver"
STAFF_PASSWORD = "bench-Fjord-ember-41-sprocket"


@dataclass
class BenchPortal(Portal):
    server: object = None

    @classmethod
    def start(cls, stack) -> BenchPortal:
        from chalicelib.localstack import pump, server
        from chalicelib.services.accounts import registry as accounts

        http = server.serve("127.0.0.1", stack.portal_port)
        pump.subscribe_sns_pumps()
        accounts.ensure_account("admin", "admin", ADMIN_PASSWORD, "admin@clinic.example", "Clinic Administrator")
        accounts.ensure_account("staff", "desk", STAFF_PASSWORD, "desk@clinic.example", "Front Desk")
        return cls(f"http://127.0.0.1:{stack.portal_port}", server=http)

    @property
    def admin(self):
        return self.signed_in("admin", ADMIN_PASSWORD)

    @property
    def staff(self):
        return self.signed_in("desk", STAFF_PASSWORD)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
