#!/usr/bin/env bash
# Idempotent set-up for mttmat on a fresh machine: project venv, Debian libraries for GPAW,
# torch (CPU pin) before anything that pulls torch, GPAW built with g++, mttmat editable + extras.
# As root with apt it also installs Debian's Slurm daemons and munge for the local Slurm test
# harness (tests/test_hpc.py; the daemons are only started by that test, never as services).
# A second call with an unchanged pyproject.toml does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MTTMAT_VENV:-.venv}
PY=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"
EXTRAS="ml,gpaw,vasp,defects,hpc,dev"
stamp="$VENV/.mttmat-bootstrap"
want="$(cat pyproject.toml workflows/bootstrap.sh | sha256sum | cut -c1-16)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[bootstrap] setting up $VENV (one time; a few minutes)"

# 1. Debian libraries GPAW links against (root + apt only; see README otherwise).
need_apt=()
for pkg in libxc-dev libopenblas-dev slurmctld slurmd slurm-client munge; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[bootstrap] apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    # the packages enable system services; the harness runs its own private daemons instead
    for svc in munge slurmctld slurmd; do
      if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
    done
  else
    echo "[bootstrap] WARNING: ${need_apt[*]} missing and no root apt; GPAW may not build" \
      "and the Slurm harness test is skipped." >&2
    echo "[bootstrap] Without root: 'conda install -c conda-forge gpaw' then rerun." >&2
  fi
fi

# 2. Virtual environment.
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
"${PIP[@]}" install -U pip setuptools wheel 2>&1 | grep -v "^WARNING: Location" || true

# 3. torch CPU pin first (an unpinned torch would pull a multi-GB CUDA build).
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  echo "[bootstrap] $TORCH_PIN"
  "${PIP[@]}" install "$TORCH_PIN" 2>&1 | grep -v "^WARNING: Location" || true
fi

# 4. GPAW (C/C++ extension: plain gcc fails on its C++ sources).
if ! "$VENV/bin/python" -c "import gpaw" 2>/dev/null; then
  echo "[bootstrap] building GPAW (CC=g++)"
  CC=g++ "${PIP[@]}" install "$TORCH_PIN" gpaw 2>&1 | grep -v "^WARNING: Location" || true
fi

# 5. mttmat with its extras (torch pin repeated so the resolver keeps it).
echo "[bootstrap] installing mttmat[$EXTRAS]"
"${PIP[@]}" install "$TORCH_PIN" -e ".[$EXTRAS]" 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import mttmat, gpaw, chgnet, atomate2, torch, jobflow_remote; print('[bootstrap] ok: torch', torch.__version__, 'gpaw', gpaw.__version__, 'jobflow-remote', jobflow_remote.__version__)"
echo "$want" > "$stamp"
