"""gunicorn settings; the I'mport sandbox is started here when no credentials are set."""

import logging
import os
import subprocess
import sys

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Requests spend most of their time waiting for I'mport: threads keep a worker busy meanwhile.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# For gthread this is a heartbeat, not a request limit; keep it above the I'mport read timeout
# (30 s) so a worker is never killed while it waits for an answer (a charge's outcome is unknown
# if it is).
timeout = 60
graceful_timeout = 45
keepalive = 5
# At gunicorn's defaults or tighter: oversized request lines and headers are refused with 400.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# The runtime control socket is not used, and it would write under $HOME.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
# %(U)s is the path without the query string: nothing a caller puts in a query reaches the log,
# and AccessLogger masks card-like digit runs in the path.
logger_class = "billing_service.access_log.AccessLogger"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'

# The application's own log lines (sandbox warnings, I'mport failures) go to stdout in gunicorn's
# shape; the handler is set up in the master and inherited by the forked workers.
_app_log = logging.StreamHandler(sys.stdout)
_app_log.setFormatter(
    logging.Formatter(
        "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S %z"
    )
)
logging.getLogger("billing_service").addHandler(_app_log)
logging.getLogger("billing_service").setLevel(logging.INFO)

_sandbox = None


def on_starting(server):
    """Check the configuration once, and start the bundled sandbox for sandbox mode."""
    global _sandbox
    from billing_service.config import ConfigError, Settings

    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        server.log.error("Configuration error: %s", exc)
        sys.exit(1)
    if settings.sandbox and settings.iamport_api_url is None:
        _sandbox = subprocess.Popen(
            [sys.executable, "-m", "billing_service.sandbox", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = _sandbox.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        if not url.startswith("http://"):
            server.log.error("The I'mport sandbox did not start: %r", line)
            sys.exit(1)
        # Workers are forked after this hook and inherit the environment: they all use this one
        # sandbox, so a key issued through one worker is visible to the others.
        os.environ["IAMPORT_API_URL"] = url
        server.log.warning("SANDBOX MODE: I'mport sandbox started at %s", url)


def on_exit(server):
    if _sandbox is not None:
        _sandbox.terminate()
        _sandbox.wait(timeout=10)
