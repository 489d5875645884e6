"""Debian's nginx in front of an app server on loopback, with the shipped deploy/nginx.conf (for the
benchmarks and the tests that serve through it, as production does).

Run from a temporary prefix (its pid file, logs and temp folders there): the shipped site file is
included as written, except for the ports (free ones), the upstream (the test's server) and the
certificate (a self-signed one made here). Clients talk TLS to it, as in production.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# The deadlines as shipped; a test may shorten them (`timeouts=`) rather than wait for them.
SHIPPED_TIMEOUTS = {"client_header_timeout": "10s", "client_body_timeout": "30s", "send_timeout": "30s",
                    "keepalive_timeout": "65s"}
SITE = ROOT / "deploy" / "nginx.conf"
# nginx's main context (what deploy/nginx.conf leaves to the host's /etc/nginx/nginx.conf).
MAIN = """\
{user}worker_processes 1;
worker_rlimit_nofile {files};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections {connections}; }}
http {{
    # The combined format's fields, then how long nginx took over the request and how long the app
    # server took to answer it (seconds): what the benches read as the server side's latency.
    log_format timed '$remote_addr - [$time_local] "$request" $status $body_bytes_sent '
                     '$request_time $upstream_response_time';
    access_log {prefix}/access.log timed;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/aurora.conf;
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "2",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=60,
    )
    return certificate, key


def client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class NginxProxy:
    def __init__(self, prefix: Path, http_port: int, https_port: int) -> None:
        self.prefix = prefix
        self.http_port = http_port
        self.port = https_port
        self.url = f"https://127.0.0.1:{https_port}"

    def http(self, source: str = "127.0.0.1", timeout: float = 10) -> http.client.HTTPSConnection:
        """An HTTPS client connection from `source` (see `connect`)."""
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=client_tls(),
                                           source_address=(source, 0))

    def connect(self, source: str = "127.0.0.1", timeout: float = 10) -> ssl.SSLSocket:
        """A TLS connection from `source` (any 127.x.y.z address: another client as nginx sees it)."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout, source_address=(source, 0))
        return client_tls().wrap_socket(raw, server_hostname="localhost")

    def error_log(self) -> str:
        return (self.prefix / "error.log").read_text()

    def access_log(self) -> str:
        return (self.prefix / "access.log").read_text()


def site_config(upstream_port: int, http_port: int, https_port: int, certificate: Path, key: Path,
                timeouts: dict[str, str]) -> str:
    site = SITE.read_text()
    replacements = {
        **{f"{name} {value};": f"{name} {timeouts[name]};" for name, value in SHIPPED_TIMEOUTS.items() if name in timeouts},
        "server 127.0.0.1:8050;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "/etc/ssl/certs/aurora.example.org.pem": str(certificate),
        "/etc/ssl/private/aurora.example.org.key": str(key),
    }
    for old, new in replacements.items():
        assert old in site, f"deploy/nginx.conf no longer has {old!r}"
        site = site.replace(old, new)
    return site


@contextmanager
def nginx_proxy(prefix: Path, upstream_port: int, *, connections: int = 1024, timeouts: dict[str, str] | None = None):
    """nginx with deploy/nginx.conf in front of 127.0.0.1:`upstream_port`, until the block ends."""
    binary = nginx_binary()
    assert binary is not None, "nginx is not installed (Debian: apt-get install nginx)"
    prefix.mkdir(parents=True, exist_ok=True)
    certificate, key = self_signed_certificate(prefix)
    http_port, https_port = free_port(), free_port()
    (prefix / "aurora.conf").write_text(site_config(upstream_port, http_port, https_port, certificate, key, timeouts or {}))
    config = prefix / "nginx.conf"
    # Started as root, nginx's workers would run as nobody, who cannot write the answers it buffers to
    # disk (a script of some MB) into a private temporary folder: they run as the starting user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    config.write_text(MAIN.format(user=user, prefix=prefix, connections=connections, files=2 * connections + 64))
    command = [binary, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]
    subprocess.run([*command, "-t"], check=True, capture_output=True, timeout=30)
    subprocess.run([*command, "-g", "daemon on;"], check=True, capture_output=True, timeout=30)
    proxy = NginxProxy(prefix, http_port, https_port)
    try:
        _wait_for_port(https_port)
        yield proxy
    finally:
        subprocess.run([*command, "-s", "stop"], capture_output=True, timeout=30)


def _wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port} within {timeout} s")
