"""CLI: `python -m billing_service.sandbox --port 0` runs the sandbox until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from .iamport_v1 import DEFAULT_API_KEY, DEFAULT_API_SECRET, start_sandbox
from .iamport_v1.tokens import DEFAULT_TOKEN_TTL
from .server import SandboxServer

# The provider API each `--api` fakes, by the function that starts its sandbox.
APIS: dict[str, Callable[..., SandboxServer]] = {"v1": start_sandbox}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m billing_service.sandbox", description="Fake I'mport V1 REST API."
    )
    parser.add_argument(
        "--api", choices=sorted(APIS), default="v1", help="the API to fake: v1 is I'mport's"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--key", default=DEFAULT_API_KEY, help="accepted imp_key")
    parser.add_argument("--secret", default=DEFAULT_API_SECRET, help="accepted imp_secret")
    parser.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL, help="seconds")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay of every response")
    parser.add_argument(
        "--hang-seconds", type=float, default=60.0, help="how long the hang fault waits"
    )
    parser.add_argument(
        "--webhook-url",
        default=None,
        metavar="URL",
        help="where webhook notices go for payments without a notice_url (default: nowhere)",
    )
    return parser.parse_args(argv)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds the main thread's wait below


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    server = APIS[args.api](
        args.host,
        args.port,
        api_key=args.key,
        api_secret=args.secret,
        token_ttl=args.token_ttl,
        latency=args.latency_ms / 1000,
        hang_seconds=args.hang_seconds,
        webhook_url=args.webhook_url,
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        # A parent process reads exactly this first line to learn the port.
        print(f"I'mport sandbox listening on {server.url}", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
