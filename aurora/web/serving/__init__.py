"""The app server: the ASGI layer (live streams), uvicorn's options and gunicorn's worker, stream capacity."""
