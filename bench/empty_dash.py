"""The anchor of target 4: an empty Dash app; its first render is one Div.

Set up before serving, as `create_app` does: otherwise a fresh worker's concurrent first requests
race Dash's lazy setup and may find no component library registered. Served the way the dashboard
is (gunicorn.conf.py's worker; the same WSGI adapter with AURORA_THREADS threads).
"""

from a2wsgi import WSGIMiddleware
from dash import Dash, html

from aurora.settings import load_settings

app = Dash(__name__, title="empty")
app.layout = html.Div("ready", id="ready")
with app.server.test_request_context("/"):
    app._setup_server()
server = WSGIMiddleware(app.server, workers=load_settings().app_threads)
