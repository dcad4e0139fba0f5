#!/usr/bin/env bash
# Install graphad for local use: Graphviz (for rendering), a .venv, and graphad
# itself in editable mode with the test extras. Safe to run repeatedly.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

# --- (a) Graphviz `dot` -------------------------------------------------------
install_graphviz() {
    local -a prefix=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            prefix=(sudo)
        else
            return 1
        fi
    fi
    command -v apt-get >/dev/null 2>&1 || return 1
    export DEBIAN_FRONTEND=noninteractive
    "${prefix[@]}" apt-get install -y -qq graphviz >/dev/null \
        || { "${prefix[@]}" apt-get update -qq >/dev/null \
             && "${prefix[@]}" apt-get install -y -qq graphviz >/dev/null; }
}

if command -v dot >/dev/null 2>&1; then
    echo "install.sh: Graphviz found ($(command -v dot))"
else
    echo "install.sh: installing Graphviz (Debian package 'graphviz')..."
    if install_graphviz && command -v dot >/dev/null 2>&1; then
        echo "install.sh: Graphviz installed"
    else
        echo "install.sh: WARNING: could not install Graphviz (needs apt-get, and root or sudo); dot not found." >&2
        echo "install.sh: graphad will still work, but rendering will write .dot files only." >&2
    fi
fi

# --- (b) virtual environment and graphad --------------------------------------
if [ ! -x .venv/bin/python ]; then
    echo "install.sh: creating .venv with $(command -v python3) ($(python3 --version 2>&1))"
    python3 -m venv .venv
else
    echo "install.sh: reusing existing .venv"
fi

echo "install.sh: installing graphad and its dependencies into .venv..."
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"

echo "install.sh: done. Try: .venv/bin/graphad demo"
