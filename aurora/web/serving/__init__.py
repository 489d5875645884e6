"""The app server: the ASGI layer (live streams), uvicorn's options and gunicorn's worker, stream capacity;
and `local_nginx`, the shipped nginx site run in front of a local app server (bench and tests)."""
