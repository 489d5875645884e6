"""The anchor of target 4: an empty Dash app; its first render is one Div."""

from dash import Dash, html

app = Dash(__name__, title="empty")
app.layout = html.Div("ready", id="ready")
server = app.server
