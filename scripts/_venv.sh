# Shared by the README's two commands and scripts/check.sh: make .venv and install rillet
# with the given extras.
# pip builds llama.cpp from source the first time (several minutes on 2 cores); its compile
# steps are shown as they come, so the install visibly moves. pip's wheel cache makes later
# installs quick.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
. .venv/bin/activate
install_extras() {
    case "$1" in
        *local*) echo "==> pip install -e .[$1]  (the first build of llama.cpp takes several minutes)" ;;
        *) echo "==> pip install -e .[$1]" ;;
    esac
    python -m pip install --disable-pip-version-check -q --upgrade pip
    python -m pip install --disable-pip-version-check -v -e ".[$1]" 2>&1 | sed -u -n -E \
        -e 's#^\s*(\[[0-9]+/[0-9]+\]) .* -c [^ ]*/([^/ ]+)$#  compiling llama.cpp \1 \2#p' \
        -e '/^(Collecting|Building wheel|Created wheel|Successfully installed|ERROR)/p' \
        -e '/^\s*(error|ERROR)/p'
    touch ".venv/.installed-$1"
}
# True if an install of any of the given extras (e.g. "dev" "dev,local") finished after
# pyproject.toml and the version file last changed: then nothing new needs installing.
installed_since_pyproject() {
    for extras in "$@"; do
        stamp=".venv/.installed-$extras"
        if [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt src/rillet/_version.py ]; then
            return 0
        fi
    done
    return 1
}
