"""The WSGI entry point (gunicorn run:app); `make run` supervises it with the worker and scheduler."""

from app import create_app

app = create_app()
