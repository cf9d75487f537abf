#!/usr/bin/env bash
# Time `make demo` from a clean checkout (set-up included: venv, install, training, budgets),
# then publish its report and timing (tools/publish_demo.py, with this checkout's .venv).
#
#     tools/time_demo.sh [COMMIT]     # default HEAD; the checkout goes to a temporary folder
#
# The temporary folder is removed once the report is published; if anything fails it is kept
# and its path printed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
commit="${1:-HEAD}"
work="$(mktemp -d /tmp/crossbar-demo-XXXXXX)"
trap 'echo "kept $work" >&2' ERR
git clone -q "$root" "$work/src"
git -C "$work/src" checkout -q --detach "$commit"
cd "$work/src"
load="$(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f '%e %U %S' -o "$work/time.txt" make demo >"$work/demo.log" 2>&1 || {
    tail -20 "$work/demo.log"; exit 1; }
read -r wall user sys <"$work/time.txt"
python3 - "$work" "$wall" "$user" "$sys" "$load" "$(nproc)" "$(git rev-parse --short HEAD)" <<'PY'
import json, sys
work, wall, user, sys_, load, cores, commit = sys.argv[1:]
json.dump({"command": "make demo (clean checkout: venv, install, training, budgets)", "commit": commit,
           "wall_s": float(wall), "cpu_s": float(user) + float(sys_), "cores": int(cores),
           "load_average_before": load}, open(f"{work}/timing.json", "w"), indent=1)
PY
cat "$work/timing.json"
python="$root/.venv/bin/python"
[ -x "$python" ] || python="$work/src/.venv/bin/python"
"$python" "$root/tools/publish_demo.py" "$work/src/demo-report" --timing "$work/timing.json"
rm -rf "$work"
