#!/usr/bin/env bash
# CI of the Python package: formatting and lints of the binding crate, the abi3 wheel built
# and installed into a fresh venv, graph-emulator built, pytest, and mypy --strict.
# Runs as root on a Debian machine with Python 3.10+ (python3), pip and Rust.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

step() { printf '\n== python: %s\n' "$*"; }

step "venv and tools"
if ! python3 -m venv .venv; then
  # Debian's python3 has no ensurepip without python3-venv.
  apt-get update -qq && apt-get install -y -qq python3-venv
  python3 -m venv --clear .venv
fi
export VIRTUAL_ENV="$here/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet 'maturin>=1.5,<2' 'pytest>=7.4' 'httpx>=0.27' 'hypothesis>=6.100' 'mypy>=1.10'

step "cargo fmt and clippy (bindings/python)"
cargo fmt --check
cargo clippy --all-targets -- -D warnings

step "wheel (maturin build --release), installed"
rm -f target/wheels/*.whl
maturin build --release --quiet
wheel="$(ls target/wheels/upload_session-*-abi3-*.whl)"
python - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
for needed in ("upload_session/py.typed", "upload_session/_native.pyi", "upload_session/drivers/sync.py"):
    assert needed in names, f"{needed} is missing from the wheel"
PY
python -m pip install --quiet --force-reinstall --no-deps "$wheel"

step "graph-emulator"
(cd "$root" && cargo build -p graph-emulator --quiet)
export GRAPH_EMULATOR="$root/target/debug/graph-emulator"

step "pytest"
# Run from the tests' directory's parent with the installed wheel, not the source tree.
python -m pytest -q -p no:cacheprovider tests

step "mypy --strict"
mypy --strict python/upload_session tests bench

step "stubtest: _native.pyi matches the compiled module"
python -m mypy.stubtest upload_session._native
