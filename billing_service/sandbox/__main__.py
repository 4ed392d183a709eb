"""CLI: `python -m billing_service.sandbox --port 0` runs the sandbox until SIGTERM/SIGINT;
`--api v2` fakes PortOne V2 instead of I'mport (V1)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from . import iamport_v1, portone_v2
from .iamport_v1.tokens import DEFAULT_TOKEN_TTL
from .server import SandboxServer

# The provider API each `--api` fakes: the function that starts its sandbox and the name its
# first line announces.
APIS: dict[str, tuple[Callable[..., SandboxServer], str]] = {
    "v1": (iamport_v1.start_sandbox, "I'mport sandbox"),
    "v2": (portone_v2.start_sandbox, "PortOne V2 sandbox"),
}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m billing_service.sandbox",
        description="Fake I'mport V1 or PortOne V2 REST API.",
    )
    parser.add_argument(
        "--api",
        choices=sorted(APIS),
        default="v1",
        help="the API to fake: v1 is I'mport's, v2 PortOne V2's",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--key", default=None, help="v1: accepted imp_key")
    parser.add_argument(
        "--secret",
        default=os.environ.get("SANDBOX_SECRET") or None,
        help="v1: accepted imp_secret; v2: the accepted API secret (default: $SANDBOX_SECRET)",
    )
    parser.add_argument("--store-id", default=None, help="v2: the merchant's store id")
    parser.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL, help="v1: seconds")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay of every response")
    parser.add_argument(
        "--hang-seconds", type=float, default=60.0, help="how long the hang fault waits"
    )
    parser.add_argument(
        "--webhook-url",
        default=None,
        metavar="URL",
        help="where webhooks go for payments (v2: and keys) without their own notice URL "
        "(default: nowhere)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("SANDBOX_WEBHOOK_SECRET") or None,
        metavar="WHSEC",
        help="v2: the whsec_<base64> secret signing webhooks; comma-separated, each signs "
        "(default: $SANDBOX_WEBHOOK_SECRET, else one generated)",
    )
    return parser.parse_args(argv)


def _options(args: argparse.Namespace) -> dict[str, object]:
    """The start function's keyword arguments for the chosen API."""
    common = {"latency": args.latency_ms / 1000, "hang_seconds": args.hang_seconds}
    if args.api == "v2":
        return {
            **common,
            "api_secret": args.secret or portone_v2.DEFAULT_API_SECRET,
            "store_id": args.store_id or portone_v2.DEFAULT_STORE_ID,
            "webhook_url": args.webhook_url,
            "webhook_secret": args.webhook_secret,
        }
    return {
        **common,
        "api_key": args.key or iamport_v1.DEFAULT_API_KEY,
        "api_secret": args.secret or iamport_v1.DEFAULT_API_SECRET,
        "token_ttl": args.token_ttl,
        "webhook_url": args.webhook_url,
    }


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds the main thread's wait below


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    start, title = APIS[args.api]
    server = start(args.host, args.port, **_options(args))
    signal.signal(signal.SIGTERM, _stop)
    try:
        # A parent process reads exactly this first line to learn the port.
        print(f"{title} listening on {server.url}", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
