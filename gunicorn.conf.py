"""gunicorn settings; the I'mport sandbox is started here when no credentials are set."""

import atexit
import glob
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile

from billing_service.config import ConfigError, Settings
from billing_service.observability import logs

# Metrics (prometheus-client multiprocess mode): every worker writes its numbers to files in this
# directory, and /metrics adds them up, so whichever worker answers a scrape reports the whole
# instance. Set here, in the master, before any worker exists or imports prometheus_client;
# workers inherit it. Without PROMETHEUS_MULTIPROC_DIR, a fresh temporary directory is made and
# removed when the master exits. (gunicorn runs this file again on SIGHUP: the directory stays.)
_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
if not os.environ.get(_METRICS_DIR):
    os.environ[_METRICS_DIR] = tempfile.mkdtemp(prefix="billing-metrics-")
    _metrics_dir_owner = os.getpid()

    @atexit.register
    def _remove_metrics_dir(path=os.environ[_METRICS_DIR]):
        if os.getpid() == _metrics_dir_owner:  # not in a worker exiting
            shutil.rmtree(path, ignore_errors=True)


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

# Logs: JSON lines on stdout (billing_service/observability/logs.py). gunicorn's error log
# ("-") goes there too, as JSON. gunicorn's access log is off: the service writes its own line
# per request (method, route, masked path without the query string, status, duration, caller,
# request id).
accesslog = None
errorlog = "-"
logger_class = "billing_service.observability.logs.GunicornLogger"
# The service's own lines (requests, audit trail, warnings; flask-limiter's Redis outages): the
# handler is set up in the master and inherited by the forked workers.
logs.log_to_stdout()

_sandbox = None


def on_starting(server):
    """Check the configuration once, and start the bundled sandbox for sandbox mode."""
    global _sandbox
    if _settings is None:
        server.log.error("Configuration error: %s", _config_error)
        sys.exit(1)
    # A directory given by the operator may hold the files of an earlier run: start from zero.
    os.makedirs(os.environ[_METRICS_DIR], exist_ok=True)
    for stale in glob.glob(os.path.join(os.environ[_METRICS_DIR], "*.db")):
        os.remove(stale)
    if not _settings.card_fingerprint_key_given:
        # One key for all this instance's workers, so per-card counters in Redis agree.
        os.environ["BILLING_CARD_FINGERPRINT_KEY"] = secrets.token_hex(32)
        server.log.warning(
            "BILLING_CARD_FINGERPRINT_KEY is not set: a random one is used, so per-card limits "
            "are not shared with other replicas."
        )
    if _settings.sandbox and _settings.iamport_api_url is None:
        _sandbox = subprocess.Popen(
            [sys.executable, "-m", "billing_service.sandbox", "--port", "0"]
            + ["--key", _settings.iamport_api_key, "--secret", _settings.iamport_api_secret],
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


def child_exit(server, worker):
    """A worker has exited: its counters stay in the totals; its live gauges must go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _sandbox is not None:
        _sandbox.terminate()
        _sandbox.wait(timeout=10)
