# Billing-key service: gunicorn serving wsgi:app as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000

WORKDIR /app

# Every dependency pinned by constraints.txt.
COPY pyproject.toml constraints.txt README.md ./
COPY billing_service ./billing_service
RUN pip install -c constraints.txt . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin billing

COPY wsgi.py gunicorn.conf.py ./

USER billing
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz', timeout=2)"

# Exec form: gunicorn is PID 1 and receives SIGTERM for a graceful shutdown.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
