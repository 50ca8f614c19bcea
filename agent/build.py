"""Build the downloadable Agent: one zipapp file holding the ``agent`` package and its pure-Python dependencies.

``python -m agent.build [OUTPUT]`` (``make agent``) copies plyer, keyring and everything they need, as they are
installed in the building Python (so the build needs no network), into a zip with a ``__main__.py``; the
manager runs it with his own Python 3.10+: ``python zaptrade-agent.pyz``. Binary packages are left out (the
file must run on Windows and Linux alike): keyring's Linux backend then uses the system's ``cryptography`` when
it is there. ``with_server`` writes the CRM address into a copy, so the downloaded Agent knows its server.
Standard library only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
import zipfile
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

from agent import __version__

ROOTS = ("plyer", "keyring")
# Needed on the manager's computer only (Windows credential store), so named here: the build machine is Linux.
PLATFORM_EXTRAS = ("pywin32-ctypes",)
SERVER_FILE = "agent/server.json"
VERSION_FILE = "agent/build.json"
BINARY_SUFFIXES = (".so", ".pyd", ".dll", ".dylib")
MAIN = (
    "import sys\n"
    "if sys.version_info < (3, 10):\n"
    "    sys.exit('ZapTrade Agent needs Python 3.10 or newer: https://www.python.org/downloads/')\n"
    "from agent.__main__ import main\n"
    "sys.exit(main())\n"
)
SHEBANG = b"#!/usr/bin/env python3\n"
# The same file for Windows: python.org's installer opens .pyzw with pyw.exe, so a double click shows the
# window without a console (PEP 441); Linux and the terminal keep .pyz.
WINDOWS_NAME = "zaptrade-agent.pyzw"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _requirement_names(dist: Distribution) -> list[str]:
    """Names of the runtime requirements (extras left out; platform markers kept: the target is not this machine)."""
    names = []
    for requirement in dist.requires or []:
        name, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = _NAME.match(name)
        if match:
            names.append(match.group(1))
    return names


def _is_pure(dist: Distribution) -> bool:
    return not any(str(path).endswith(BINARY_SUFFIXES) for path in dist.files or [])


def bundled_distributions(roots: tuple[str, ...] = ROOTS + PLATFORM_EXTRAS) -> tuple[list[Distribution], list[str]]:
    """The installed pure-Python distributions the Agent needs, and the names left out (missing or binary)."""
    found: dict[str, Distribution] = {}
    left_out: list[str] = []
    pending = list(roots)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found or key in left_out:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            left_out.append(key)
            continue
        if not _is_pure(dist):
            left_out.append(key)
            continue
        found[key] = dist
        pending.extend(_requirement_names(dist))
    return [found[key] for key in sorted(found)], sorted(left_out)


def _dist_files(dist: Distribution) -> list[tuple[Path, str]]:
    """(file on disk, name in the archive) of one installed distribution, without scripts and caches."""
    out = []
    for path in dist.files or []:
        name = str(path).replace(os.sep, "/")
        if name.startswith("..") or "__pycache__" in name or name.endswith(".pyc") or name.startswith("bin/"):
            continue
        source = Path(dist.locate_file(path))
        if source.is_file():
            out.append((source, name))
    return out


def _agent_files() -> list[tuple[Path, str]]:
    package = Path(__file__).resolve().parent
    return [
        (path, "agent/" + path.relative_to(package).as_posix())
        for path in sorted(package.rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


NAMESPACE_INIT = "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"


def _namespace_inits(names: list[str]) -> list[str]:
    """``__init__.py`` names for top-level namespace packages (jaraco, backports): zipimport cannot find
    PEP 420 packages inside a zip, a pkgutil-style ``__init__`` it can."""
    inits = []
    for top in sorted({name.split("/", 1)[0] for name in names if name.count("/") >= 2 and name.endswith(".py")}):
        if top.isidentifier() and f"{top}/__init__.py" not in names:
            inits.append(f"{top}/__init__.py")
    return inits


def build(output: Path) -> dict:
    """Write the zipapp atomically (temp file + os.replace); returns what went in."""
    dists, left_out = bundled_distributions()
    files = _agent_files()
    for dist in dists:
        files.extend(_dist_files(dist))
    output.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "version": __version__,
        "python": ">=3.10",
        "bundled": {dist.metadata["Name"]: dist.version for dist in dists},
        "left_out": left_out,
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(SHEBANG)
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("__main__.py", MAIN)
                archive.writestr(VERSION_FILE, json.dumps(manifest, indent=2))
                seen = set()
                for source, name in files:
                    if name not in seen:
                        seen.add(name)
                        archive.write(source, name)
                for name in _namespace_inits(sorted(seen)):
                    archive.writestr(name, NAMESPACE_INIT)
        os.chmod(tmp, 0o755)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


def built_version(path: Path) -> str | None:
    """The Agent version inside a built file; None when there is no usable file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(VERSION_FILE))["version"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def with_server(path: Path, server: str) -> bytes:
    """The built file with ``agent/server.json`` naming this CRM's address (the download the manager gets)."""
    buffer = io.BytesIO(path.read_bytes())
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(SERVER_FILE, json.dumps({"server": server}))
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.build", description="Build the downloadable Agent")
    parser.add_argument("output", nargs="?", default="instance/agent/zaptrade-agent.pyz")
    args = parser.parse_args(argv)
    output = Path(args.output)
    manifest = build(output)
    print(f"Agent {manifest['version']}: {output} ({output.stat().st_size // 1024} KB)")
    if manifest["left_out"]:
        print("left out (not installed here, or binary): " + ", ".join(manifest["left_out"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
