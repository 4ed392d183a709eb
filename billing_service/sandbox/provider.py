"""The seam between the shared server and a provider's fake.

`Shared` is what every fake gets from the server (clock, route faults, call log, stop signal);
`Fake` is what the server asks of a provider's fake (its routes, how it answers, its background
threads). `Sandbox` is the pair, as the server and the provider-neutral admin endpoints see it.
`FakeThreads` is what every fake does with its two threads (its sender of notices or webhooks,
its scheduler) and with its admin calls.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email.message import Message
from typing import Any, Protocol

from . import scheduler
from .calls import CallLog
from .clock import Clock
from .faults import FaultQueue
from .sender import Sender
from .wire import Reply, Request, Route


@dataclass(frozen=True)
class Shared:
    """What every provider's fake shares with the server."""

    clock: Clock
    faults: FaultQueue  # one-shot route faults, taken as calls arrive
    calls: CallLog
    stopping: threading.Event  # set by shutdown(): waits must end early
    hang_seconds: float  # how long the hang and stall faults wait


class Fake(Protocol):
    """One provider's fake API, as the shared server drives it."""

    @property
    def name(self) -> str:
        """The Server header and the prefix of thread names, e.g. ``iamport-sandbox``."""

    @property
    def state(self) -> Any:
        """What the fake remembers (`SandboxServer.state`)."""

    @property
    def routes(self) -> tuple[Route[Any], ...]:
        """Its API: the call log counts these and route faults name them."""

    @property
    def admin_routes(self) -> tuple[Route[Any], ...]:
        """Its own endpoints under `/__sandbox__/`, beside the provider-neutral ones."""

    def latency(self, route: Route[Any] | None) -> float:
        """Seconds to hold a call back before it is answered (a network round trip)."""

    def credentials(self, headers: Message) -> tuple[str | None, str | None]:
        """(the credential sent, the form it came in, as the call log shows it)."""

    def shapes(self, body: dict[str, Any] | None) -> dict[str, str]:
        """The format of each card field sent, for the call log (never the values)."""

    def no_route(self, allowed: list[str]) -> Reply:
        """The 404 (no `allowed`) or 405 of an unknown path or method."""

    def fault_reply(self, fault: str) -> Reply | None:
        """What a fault of `faults.BEFORE` answers instead of processing (None: reset)."""

    def answer(
        self, route: Route[Any], credential: str | None, request: Request | None
    ) -> Reply | None:
        """Check the credential, then run the route (`request` None: an unreadable body)."""

    def admin(self, route: Route[Any], request: Request) -> Reply:
        """Run one of `admin_routes`."""

    def start(self, port: int) -> None:
        """Start its background threads (webhook sender, scheduler...)."""

    def close(self) -> None:
        """Stop its background threads; called once `Shared.stopping` is set."""

    def paused(self) -> AbstractContextManager[object]:
        """Hold its background work (e.g. an execution) while the sandbox is reset."""

    def reset(self) -> None:
        """Forget everything it stored; restore its start-up config."""

    def clock_moved(self) -> list[str]:
        """Run what the clock's move made due; the ids of what ran."""


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: the shared parts and the provider's fake."""

    shared: Shared
    fake: Fake


class ScheduledState(scheduler.Schedules, Protocol):
    """What `FakeThreads` reads of a fake's state."""

    execution_lock: threading.Lock

    def reset(self) -> None: ...


class FakeThreads:
    """A fake's sender of notices or webhooks and its scheduler, started, stopped, paused and
    reset as the server asks; its admin calls run as given. A fake calls `__init__` once its
    state, context and sender exist, and gives `_execute_due`."""

    name: str
    state: ScheduledState
    context: Any  # what its route handlers take

    def __init__(self, sender: Sender, sender_name: str, stopping: threading.Event) -> None:
        self._sender = sender
        self._sender_name = sender_name  # in the sender thread's name
        self._stopping = stopping
        self._scheduler: threading.Thread | None = None

    def _execute_due(self) -> list[str]:
        """Run the schedules now due; their ids."""
        raise NotImplementedError

    def admin(self, route: Route[Any], request: Request) -> Reply:
        reply = route.handler(self.context, request)
        assert reply is not None  # admin handlers never reset the connection
        return reply

    def start(self, port: int) -> None:
        """Start the sender and the scheduler (executes schedules when due)."""
        self._sender.start(f"{self.name}-{self._sender_name}-{port}")
        self._scheduler = scheduler.start(
            f"{self.name}-scheduler-{port}", self._stopping, self.state, self._execute_due
        )

    def close(self) -> None:
        self.state.schedules_changed.set()
        self._sender.close()  # also wakes the `wait` admin calls
        if self._scheduler is not None:
            self._scheduler.join(5)

    def paused(self) -> AbstractContextManager[object]:
        return self.state.execution_lock

    def reset(self) -> None:
        """Start-up config, nothing stored, no schedules, nothing queued to send."""
        self.state.reset()
        self._sender.reset()

    def clock_moved(self) -> list[str]:
        """Execute the schedules that became due; their ids."""
        self.state.schedules_changed.set()
        return self._execute_due()
