# Shared by the README's two commands: make .venv and install rillet with the given extras.
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
    echo "==> pip install -e .[$1]  (the first build of llama.cpp takes several minutes)"
    python -m pip install --disable-pip-version-check -q --upgrade pip
    python -m pip install --disable-pip-version-check -v -e ".[$1]" 2>&1 | sed -u -n -E \
        -e 's#^\s*(\[[0-9]+/[0-9]+\]) .* -c [^ ]*/([^/ ]+)$#  compiling llama.cpp \1 \2#p' \
        -e '/^(Collecting|Building wheel|Created wheel|Successfully installed|ERROR)/p' \
        -e '/^\s*(error|ERROR)/p'
}
