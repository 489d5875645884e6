"""werkzeug's development server, answering in JSON the requests it rejects before the app sees them.

Python's http.server (under werkzeug's dev server) refuses request lines over 64 KiB (414), header
lines over 64 KiB or more than 100 headers (431), unparseable request lines (400) and HTTP/2+
request lines (505) on its own, with an HTML page. This handler keeps those codes and gives them the
API's JSON error body instead. gunicorn, the production server, answers such requests itself too
(its own plain HTML 400/414/431; see README "Operating it"); no WSGI app can change that.
"""

from __future__ import annotations

import json

from werkzeug.serving import WSGIRequestHandler


class JsonErrorRequestHandler(WSGIRequestHandler):
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short, _ = self.responses.get(code, ("Error", ""))
        text = message or short
        self.log_error("code %d, message %s", code, text)
        # The reason phrase is the standard one: `message` may echo the client's bytes.
        self.send_response(code, short)
        self.send_header("Connection", "close")
        self.close_connection = True
        body = json.dumps({"error": {"status": int(code), "message": text[:200]}}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
