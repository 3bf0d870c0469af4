#!/usr/bin/env bash
# Installs everything the tests need (Python packages into .venv, Debian's chromium for the
# browser tests) and runs them. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# PyTorch's CPU build at the pinned version (see the README's set-up), from PyTorch's index; a torch already
# installed at that version is kept. Its dependencies, and every other package, come from the usual index.
python -m pip install --quiet --no-deps "$(grep -E '^torch==' requirements.txt)" \
  --extra-index-url https://download.pytorch.org/whl/cpu
python -m pip install --quiet -r requirements-test.txt
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
python -m pytest "$@"
