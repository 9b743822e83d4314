#!/usr/bin/env bash
# Wall time of the 16-trial configs/sweeps/digits.yaml: serially, with 2 local workers, and on a
# 2-worker Dask LocalCluster (needs the dask extra); then the same trials pruned by ASHA
# (configs/sweeps/digits_asha.yaml) with 2 local workers. One run each, in a temporary folder.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
run() {
  local sweep=$1
  shift
  start=$(date +%s.%N)
  mlp sweep "$sweep" --out "$out/$(basename "$sweep" .yaml)$(echo "$*" | tr -d ' -')" "$@" > "$out/log" 2>&1
  status=$?
  end=$(date +%s.%N)
  python3 -c "print(f'mlp sweep $sweep $*: exit {$status}, {$end - $start:.1f} s')"
  tail -n 1 "$out/log"
}
run configs/sweeps/digits.yaml --workers 1
run configs/sweeps/digits.yaml --workers 2
run configs/sweeps/digits.yaml --workers 2 --backend dask
run configs/sweeps/digits_asha.yaml --workers 2
rm -rf "$out"
