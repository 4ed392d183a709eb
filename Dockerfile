# Billing-key service: gunicorn serving wsgi:app as a non-root user.
#
#   docker build -t billing-service .
#   docker run --rm -p 8000:8000 -e BILLING_API_KEYS=... billing-service
#
# Stop it with a grace period longer than gunicorn's graceful_timeout (236 s with the default
# IAMPORT_* timeouts, see gunicorn.conf.py): `docker stop --time 240`, compose
# `stop_grace_period: 240s`, Kubernetes `terminationGracePeriodSeconds: 240`. Otherwise requests
# still waiting on I'mport are killed at Docker's default 10 s.

# ---------------------------------------------------------------------------------------------
# Build stage: the service's wheel and its pinned runtime dependencies, in a venv under /opt.
FROM python:3.11.17-slim-trixie AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /src
RUN python -m venv /opt/venv

# Runtime dependencies first (pyproject's [project] dependencies, every version pinned by
# constraints.txt; the dev extra is not installed): this layer is rebuilt only when they change.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
    && pip install --requirement requirements.txt --constraint constraints.txt

# Then the service itself, as a wheel (package data included), without touching the
# dependencies; pip check proves the venv is consistent.
COPY README.md ./
COPY billing_service ./billing_service
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip install --no-deps /wheels/billing_service-*.whl \
    && pip check

# ---------------------------------------------------------------------------------------------
# Runtime stage: the venv and the two entry files, nothing else (no compiler, no build files,
# no dev tools, no source tree).
# The same pinned base as the build stage, so the venv runs unchanged (same Python, same path).
FROM python:3.11.17-slim-trixie AS runtime

# The service's version: pyproject.toml's, the API's, and the tag deploy/kubernetes/ runs.
LABEL org.opencontainers.image.title="billing-service" \
      org.opencontainers.image.version="1.0.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PORT=8000 \
    BILLING_DATA_DIR=/data

# A fixed UID/GID, so volumes and Kubernetes' runAsNonRoot/runAsUser can rely on it.
RUN groupadd --system --gid 10001 billing \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin billing \
    && install --directory --owner 10001 --group 10001 --mode 0700 /data

# The embedded state store (rate-limit counters, idempotency records, pending charges) and the
# instance's generated keys: they must survive a restart of the container.
VOLUME ["/data"]

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Owned by root and read-only for the service user.
COPY wsgi.py gunicorn.conf.py ./

USER 10001:10001
EXPOSE 8000

# Liveness only (no I'mport call). http.client rather than urllib: an HTTP(S)_PROXY set for
# the I'mport calls must not catch this loopback request.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import http.client, os; c = http.client.HTTPConnection('127.0.0.1', int(os.environ.get('PORT', '8000')), timeout=4); c.request('GET', '/healthz'); raise SystemExit(c.getresponse().status != 200)"]

# Exec form: gunicorn is PID 1 and gets docker stop's SIGTERM itself (graceful shutdown).
STOPSIGNAL SIGTERM
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
