#!/usr/bin/env python3
"""The README's two commands, needing nothing but Python 3.11:

    python3 dev.py run     install the runtime dependencies into .venv and start the dashboard
    python3 dev.py test    install everything into .venv, then run ruff and the whole test suite

Extra arguments after `test` go to pytest (for example `python3 dev.py test -k api`). Without
them, the tests driven by the injected clock run twice more with the test moment moved a year back
and a year forward: no test may depend on the date the suite runs on.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _requirements_digest(requirements: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted({requirements, ROOT / "requirements.txt", ROOT / "constraints.txt"}):
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_environment(requirements: Path) -> None:
    """Create .venv and install `requirements`, skipping the install when nothing changed."""
    if not PYTHON.exists():
        print(f"Creating {VENV.name} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{requirements.stem}"
    digest = _requirements_digest(requirements)
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installing {requirements.name} ...", flush=True)
    command = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(requirements)]
    if (ROOT / "constraints.txt").exists():
        command += ["-c", str(ROOT / "constraints.txt")]
    subprocess.run(command, check=True, cwd=ROOT)
    stamp.write_text(digest)


def run(args: list[str]) -> int:
    ensure_environment(ROOT / "requirements.txt")
    return subprocess.call([str(PYTHON), str(ROOT / "app.py"), *args], cwd=ROOT)


SHIFTED_MOMENTS_DAYS = (-365, 365)


def test(args: list[str]) -> int:
    ensure_environment(ROOT / "requirements-dev.txt")
    print("ruff check .", flush=True)
    lint = subprocess.call([str(PYTHON), "-m", "ruff", "check", "."], cwd=ROOT)
    if lint != 0:
        return lint
    result = subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT)
    if result != 0 or args:
        return result
    # Both shifted passes at once (every test has its own schema, Redis prefix and ports), each
    # one's output printed whole when it ends.
    passes = {
        days: subprocess.Popen(
            [str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "clock"], cwd=ROOT,
            env={**os.environ, "AURORA_TEST_SHIFT_DAYS": str(days)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for days in SHIFTED_MOMENTS_DAYS
    }
    for days, process in passes.items():
        output, _ = process.communicate()
        print(f"pytest -m clock with the test moment moved {days:+d} days\n{output}", flush=True)
        result = result or process.returncode
    return result


def main() -> int:
    commands = {"run": run, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        return commands[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as error:
        print(f"dev.py: {' '.join(map(str, error.cmd[:4]))} ... failed with exit code {error.returncode}", file=sys.stderr)
        return error.returncode
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
