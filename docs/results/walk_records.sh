#!/bin/sh
# Regenerate the Walking Noise and hardening records in docs/results (see walking-noise.md).
# Each run writes to runs/results/<name> (resumable: rerun to continue), then its report
# (Markdown, JSON, figures) is copied here. Usage: sh docs/results/walk_records.sh [name ...]
set -e
cd "$(dirname "$0")/../.."
names=${*:-"harden-mnist5k walk-mnist5k-mlp walk-fashion-mnist walk-mnist5k-lenet5 harden-fashion-mnist"}
for name in $names; do
    case $name in walk-*) cmd=walk; report=walk ;; *) cmd=harden; report=harden ;; esac
    start=$(date +%s)
    nice -n 10 crossbar-sim "$cmd" "docs/results/$name.yaml" --no-progress > /dev/null
    echo "$name: $(( $(date +%s) - start )) s wall clock"
    rm -rf "docs/results/$name"
    mkdir -p "docs/results/$name"
    cp "runs/results/$name/$report.md" "runs/results/$name/$report.json" "docs/results/$name/"
    cp -r "runs/results/$name/figures" "docs/results/$name/"
done
