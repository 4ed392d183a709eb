"""Standard-library-only fakes of the payment providers' REST APIs, for tests.

What any provider's fake shares lives here: `server.py` (`SandboxServer`, its lifecycle),
`httpd.py` (the HTTP server: reading, routing, latency, route faults, hang, trickle, reset),
`provider.py` (the seam: `Shared` and the `Fake` protocol), `wire.py` (request, reply, route,
JSON and form bodies), `clock.py` (the sandbox clock), `faults.py` (the one-shot route faults),
`calls.py` (the call log), `admin.py` (the provider-neutral `/__sandbox__/` endpoints:
calls, reset, clock, faults), `cards.py` (card rules and the magic card numbers),
`sender.py` (a webhook sender thread's lifecycle and its one POST) and `scheduler.py` (the
thread that runs schedules when due on the sandbox clock). None of
them imports a provider package. Each provider's fake is a package of its own, and neither
imports the other: `iamport_v1/` (I'mport, PortOne V1; its `start_sandbox` is the one
re-exported here) and `portone_v2/` (PortOne V2).
"""

from .iamport_v1 import DEFAULT_API_KEY, DEFAULT_API_SECRET, start_sandbox
from .server import SandboxServer

__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_SECRET", "SandboxServer", "start_sandbox"]
