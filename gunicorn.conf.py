"""gunicorn settings; the I'mport sandbox is started here when no credentials are set."""

import logging
import math
import os
import secrets
import subprocess
import sys

from billing_service.config import ConfigError, Settings

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Requests spend most of their time waiting for I'mport: threads keep a worker busy meanwhile.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# For gthread this is a heartbeat, not a request limit; keep it above the I'mport read timeout
# (30 s) so a worker is never killed while it waits for an answer (a charge's outcome is unknown
# if it is).
timeout = 60


# Read (and checked, in on_starting) the way the service reads it; None: the settings are wrong.
try:
    _settings = Settings.from_env(os.environ)
except ConfigError as _error:
    _settings, _config_error = None, _error


# After SIGTERM, workers keep answering the requests in flight for up to graceful_timeout, then
# are killed; a worker exits as soon as it has none left, so a long value costs nothing while
# I'mport is healthy. It must cover the longest request: every I'mport call ends within
# connect + read timeout (the gateway's total deadline), and with at most one token refusal a
# request makes at most 6 such calls in a row:
#   refused charge: token, charge -> 401, token, charge -> refused, order lookup, key lookup (6)
#   lost charge:    token, charge -> 401, token, charge -> no answer, order lookup (5)
#   cancel:         token, lookup -> 401, token, lookup, cancel (5)
# Only an I'mport refusing freshly issued tokens again and again makes more (one 401 per step,
# answered fast in practice), and a charge cut short by the kill is still safe to retry with its
# merchant_uid. Defaults (3 + 30 s): 6 x 33 + 5 = 203 s. The container's stop grace period
# (Kubernetes terminationGracePeriodSeconds, docker stop --time) must be longer than this, or
# the IAMPORT_* timeouts shorter.
_CALLS_PER_REQUEST = 6
_per_call = _settings.connect_timeout + _settings.read_timeout if _settings else 33.0
graceful_timeout = math.ceil(_CALLS_PER_REQUEST * _per_call) + 5
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
for _name in ("billing_service", "flask-limiter"):  # flask-limiter: Redis outages
    logging.getLogger(_name).addHandler(_app_log)
    logging.getLogger(_name).setLevel(logging.INFO)

_sandbox = None


def on_starting(server):
    """Check the configuration once, and start the bundled sandbox for sandbox mode."""
    global _sandbox
    if _settings is None:
        server.log.error("Configuration error: %s", _config_error)
        sys.exit(1)
    if not _settings.card_fingerprint_key_given:
        # One key for all this instance's workers, so per-card counters in Redis agree.
        os.environ["BILLING_CARD_FINGERPRINT_KEY"] = secrets.token_hex(32)
        server.log.warning(
            "BILLING_CARD_FINGERPRINT_KEY is not set: a random one is used, so per-card limits "
            "are not shared with other replicas."
        )
    if _settings.sandbox and _settings.iamport_api_url is None:
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
