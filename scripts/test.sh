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
# PyTorch's CPU build (see the README's set-up); a torch already installed is kept
python -m pip install --quiet -r requirements-test.txt --extra-index-url https://download.pytorch.org/whl/cpu
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
python -m pytest "$@"
