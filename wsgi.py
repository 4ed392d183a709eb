"""WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

from billing_service import create_app

app = create_app()
