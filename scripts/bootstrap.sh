#!/usr/bin/env bash
# Installs what the platform (and, with --test, the test suite) needs. Idempotent and quiet
# when nothing changed: the virtualenv is rebuilt only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test_tools=false
[[ "${1:-}" == "--test" ]] && want_test_tools=true

python=${PYTHON:-python3}
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f "$stamp" ]]; then
  echo "bootstrap: installing the leadgen package into .venv" >&2
  [[ -x .venv/bin/python ]] || "$python" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  extras=""
  $want_test_tools && extras="[dev]"
  .venv/bin/pip install --quiet -e ".${extras}"
  $want_test_tools && touch "$stamp"
fi

if $want_test_tools; then
  # checkov pins an older 'packaging' than pytest accepts, so it lives in a venv of its own.
  checkov_stamp=.tools/checkov/.installed-$(sha256sum requirements/checkov.txt | cut -c1-16)
  if [[ ! -f "$checkov_stamp" ]]; then
    echo "bootstrap: installing checkov into .tools/checkov" >&2
    "$python" -m venv .tools/checkov
    .tools/checkov/bin/pip install --quiet -r requirements/checkov.txt
    touch "$checkov_stamp"
  fi
  # Browser tests drive Debian's chromium; no tool may download a browser of its own.
  if [[ ! -x /usr/bin/chromium ]] && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing chromium (Debian package)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
