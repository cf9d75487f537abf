#!/bin/sh
# Regenerate the records of the networks beyond the paper's (docs/results/networks/README.md).
# Each run writes to runs/results/networks/<name> (resumable: rerun to continue), then its
# report (Markdown, JSON, figures) is copied here. Usage: sh docs/results/networks/run.sh name ...
set -e
cd "$(dirname "$0")/../../.."
for name in "$@"; do
    case $name in
        *-sweep) cmd=sweep; files="tables.md tables.json tables.csv figures" ;;
        *-budget) cmd=budget; files="report.md report.json figures" ;;
        *-walk) cmd=walk; files="walk.md walk.json figures" ;;
        *) echo "unknown record $name (names end in -sweep, -budget or -walk)" >&2; exit 2 ;;
    esac
    start=$(date +%s)
    nice -n 10 crossbar-sim "$cmd" "docs/results/networks/$name.yaml" --no-progress > /dev/null
    echo "$name: $(( $(date +%s) - start )) s wall clock"
    rm -rf "docs/results/networks/$name"
    mkdir -p "docs/results/networks/$name"
    for f in $files; do
        if [ -e "runs/results/networks/$name/$f" ]; then cp -r "runs/results/networks/$name/$f" "docs/results/networks/$name/"; fi
    done
done
