"""The dashboard as a plain WSGI app (`bench.wsgi_app:application`), for serving it the way it was
served before the asyncio layer: gunicorn's stock gthread workers (bench.serving compares them).

Built on first access, like app.py's `server`: importing this module loads nothing.
"""

import functools
import logging

from aurora import create_app
from aurora.settings import load_settings
from aurora.web.context import context_of


@functools.cache
def _application():
    logging.basicConfig(level=logging.WARNING)
    app = create_app(load_settings())
    context_of(app).service.start()
    return app.server


def __getattr__(name: str):
    if name == "application":
        return _application()
    raise AttributeError(name)
