"""The WSGI entry point (gunicorn run:app); `make run` supervises it with the worker and scheduler."""

import gc

from app import create_app

app = create_app()
# What start-up made lives as long as the process: the garbage collector need not walk it again on
# every pass (a tenth of a list page's CPU time otherwise).
gc.freeze()
