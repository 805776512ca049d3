#!/usr/bin/env bash
# Installs what the platform (and, with --test, the test suite) needs. Idempotent and quiet when
# nothing changed: pip runs only when pyproject.toml changed since the last install of the same
# kind, so a second start installs nothing and needs no package index.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test_tools=false
[[ "${1:-}" == "--test" ]] && want_test_tools=true

python=${PYTHON:-python3}
# The oldest Python the package runs on: requires-python in pyproject.toml (">=3.11").
min_python=$(sed -n 's/^requires-python *= *">= *\([0-9][0-9.]*\)[^"]*".*/\1/p' pyproject.toml)
min_python=${min_python:-3}

# Whether the interpreter $1 runs and is at least $min_python.
new_enough() { "$1" -c "import sys; sys.exit(sys.version_info < (${min_python//./, },))" 2>/dev/null; }
version_of() { "$1" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo "not found"; }

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
  # A virtualenv made with an older Python (before it was upgraded) would fail the same way for ever.
  if ! new_enough .venv/bin/python; then
    if ! new_enough "$python"; then
      echo "bootstrap: leadgen needs Python $min_python or newer (requires-python in pyproject.toml);" \
        "$python is $(version_of "$python"). Install a newer one and run again with PYTHON set to it," \
        "e.g. PYTHON=python3.12 scripts/up" >&2
      exit 1
    fi
    if [[ -e .venv ]]; then
      echo "bootstrap: .venv's Python ($(version_of .venv/bin/python)) is older than $min_python or does not" \
        "run: making .venv again with $python ($(version_of "$python"))" >&2
      rm -rf .venv
    fi
    "$python" -m venv .venv
  fi
  echo "bootstrap: installing the leadgen package${extras} into .venv" >&2
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
