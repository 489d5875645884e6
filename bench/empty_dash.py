"""The anchor of target 4: an empty Dash app; its first render is one Div.

Set up before serving, as `create_app` does: otherwise a fresh worker's concurrent first requests
race Dash's lazy setup and may find no component library registered.
"""

from dash import Dash, html

app = Dash(__name__, title="empty")
app.layout = html.Div("ready", id="ready")
server = app.server
with server.test_request_context("/"):
    app._setup_server()
