"""gunicorn settings; the bundled I'mport sandbox is started here in sandbox mode
(BILLING_SANDBOX=true) without an IAMPORT_API_URL."""

import atexit
import glob
import os
import shutil
import subprocess
import sys
import tempfile

from billing_service.config import REDIS_SCHEMES, ConfigError, Settings, longest_request
from billing_service.observability import logs
from billing_service.state import SharedStore, StateUnavailable, UnsafeRedis

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
# One per core; see threads for the figures.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Requests spend most of their time waiting for I'mport: threads keep a worker busy meanwhile.
worker_class = "gthread"
# Capacity is workers x threads requests in flight: 2 x 8 capped the service at 16 / 0.2 s = 80
# req/s against a 200 ms I'mport (measured, make bench: 74 req/s, p50 850 ms at 64 callers,
# 3.4 s at 256). 2 x 128 = 256 in flight puts that ceiling (1280 req/s) above what the CPU allows
# on 2 cores: 269 req/s and p50 225 ms at 64 callers (floor 307 req/s, 201 ms), 383 req/s at 256,
# 177 MB RSS for master + workers; 0 ms CPU per issuance and 20 ms p50 did not move measurably
# from 8 to 128 threads (2.9-3.4 ms, 1.24-1.31 x floor; 32 and 64 threads alike). More threads
# cost ~0.1 MB each; a worker more ~65 MB (3 x 64: 228 MB at 256 callers) for no measured gain.
# setdefault: the workers inherit the count, and the gateway's connection pool is sized from it
# (billing_service/gateway/http.py, max_idle_connections): one source of truth.
threads = int(os.environ.setdefault("GUNICORN_THREADS", "128"))
# A worker stops accepting at this many connections (running, queued and kept-alive together):
# far above its threads, so idle keep-alive connections never shut a worker.
worker_connections = max(1000, 4 * threads)
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
# I'mport is healthy. It covers the longest request (config.LONGEST_CHAINS, which also sizes the
# idempotency and order-lock leases: 7 I'mport calls in a row, each within connect + read
# timeout, + 5 s; 236 s by default). The container's stop grace period (Kubernetes
# terminationGracePeriodSeconds, docker stop --time) must be longer than this, or the IAMPORT_*
# timeouts shorter.
graceful_timeout = _settings.longest_request if _settings else longest_request()
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
    _refuse_an_evicting_redis(server, _settings.state_url)
    # A directory given by the operator may hold the files of an earlier run: start from zero.
    os.makedirs(os.environ[_METRICS_DIR], exist_ok=True)
    for stale in glob.glob(os.path.join(os.environ[_METRICS_DIR], "*.db")):
        os.remove(stale)
    if _settings.sandbox:
        _share_webhook_secret(_settings)
        _sandbox = _start_sandbox(server, _settings)


def _share_webhook_secret(settings):
    """In sandbox mode without PORTONE_WEBHOOK_SECRET, the settings made one: the workers,
    forked after this hook, inherit it through the environment (each would make its own), and
    the sandbox signs its webhooks with it."""
    portone = settings.portone
    if portone is not None and not os.environ.get("PORTONE_WEBHOOK_SECRET", "").strip():
        os.environ["PORTONE_WEBHOOK_SECRET"] = ",".join(portone.webhook_secrets)


def _start_sandbox(server, settings):
    """The bundled sandbox of the configured provider, unless the settings name one."""
    portone = settings.portone
    if portone is not None:
        if portone.api_url is not None:
            return None
        name, variable = "PortOne V2", "PORTONE_API_URL"
        arguments = ["--api", "v2", "--store-id", portone.store_id]
        # Its webhooks come back to this service (the console's webhook URL), signed with the
        # secret the workers verify them with.
        arguments += ["--webhook-url", _notice_url(settings, "portone")]
        # Secrets go through its environment: its command line is anyone's to read (ps).
        secrets = {"SANDBOX_SECRET": portone.api_secret}
        secrets["SANDBOX_WEBHOOK_SECRET"] = ",".join(portone.webhook_secrets)
    else:
        if settings.iamport_api_url is not None:
            return None
        name, variable = "I'mport", "IAMPORT_API_URL"
        arguments = ["--key", settings.iamport_api_key]
        secrets = {"SANDBOX_SECRET": settings.iamport_api_secret}
        # Its notices (scheduled charges, approvals) come back to this service, as the console's
        # notice URL makes the real I'mport do: the whole loop works offline.
        arguments += ["--webhook-url", _notice_url(settings, "iamport")]
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "billing_service.sandbox", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **secrets},
    )
    line = sandbox.stdout.readline()
    url = line.rsplit(" ", 1)[-1].strip()
    if not url.startswith("http://"):
        server.log.error("The %s sandbox did not start: %r", name, line)
        sys.exit(1)
    # Workers are forked after this hook and inherit the environment: they all use this one
    # sandbox, so a key issued through one worker is visible to the others.
    os.environ[variable] = url
    server.log.warning("SANDBOX MODE: %s sandbox started at %s", name, url)
    return sandbox


def _refuse_an_evicting_redis(server, url):
    """Here, once, like the other settings (each worker's app checks again, and checks a Redis
    unreachable now on first contact)."""
    if not url.startswith(REDIS_SCHEMES):
        return
    store = SharedStore(url)
    try:
        store.check()
    except UnsafeRedis as exc:
        server.log.error("Configuration error: %s", exc)
        sys.exit(1)
    except StateUnavailable:
        pass
    finally:
        store.close()


def _notice_url(settings, provider):
    token = settings.webhook_token
    path = f"/webhooks/{provider}" + (f"/{token}" if token else "")
    return f"http://127.0.0.1:{os.environ.get('PORT', '8000')}{path}"


def post_worker_init(worker):
    """Start this worker's event consumer and readiness checks: after the fork (no thread
    crosses one) and after the app is loaded. They install no signal handler, so gunicorn's
    own stay in charge."""
    billing = getattr(worker.wsgi, "extensions", {}).get("billing")
    if billing is not None:  # another WSGI app (the benchmark's) has none
        billing.events.consumer.start()
        billing.readiness.start()


def worker_exit(server, worker):
    """Let the consumer finish the delivery in flight (one attempt lasts at most 15 s)."""
    billing = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("billing")
    if billing is not None:
        billing.events.consumer.stop(timeout=20)


def child_exit(server, worker):
    """A worker has exited: its counters stay in the totals; its live gauges must go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _sandbox is not None:
        _sandbox.terminate()
        _sandbox.wait(timeout=10)
