"""The production server: the ASGI front, gunicorn's worker, HTTP parsing limits, capacity."""
