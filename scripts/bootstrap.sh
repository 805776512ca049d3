#!/usr/bin/env bash
# Installs what the platform (and, with --test, the test suite) needs. Idempotent and quiet when
# nothing changed: pip runs only when pyproject.toml changed since the last install of the same
# kind, so a second start installs nothing and needs no package index.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test_tools=false
[[ "${1:-}" == "--test" ]] && want_test_tools=true

python=${PYTHON:-python3}
# One stamp per kind of install, named after pyproject.toml's hash; the dev extra holds the
# package itself, so its stamp answers for both.
pyproject_hash=$(sha256sum pyproject.toml | cut -c1-16)
package_stamp=.venv/.installed-$pyproject_hash
dev_stamp=.venv/.installed-dev-$pyproject_hash
if $want_test_tools; then
  wanted_stamp=$dev_stamp extras="[dev]"
else
  wanted_stamp=$package_stamp extras=""
fi
if [[ ! -f "$wanted_stamp" ]]; then
  echo "bootstrap: installing the leadgen package${extras} into .venv" >&2
  [[ -x .venv/bin/python ]] || "$python" -m venv .venv
  # Stamps of another pyproject.toml no longer describe the virtualenv.
  rm -f .venv/.installed-*
  .venv/bin/pip install --quiet -e ".${extras}"
  touch "$package_stamp"
  $want_test_tools && touch "$dev_stamp"
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
