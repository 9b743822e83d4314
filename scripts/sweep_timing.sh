#!/usr/bin/env bash
# Wall time of the 16-trial configs/sweeps/digits.yaml: serially, with 2 local workers, and on a
# 2-worker Dask LocalCluster (needs the dask extra). One run each; the sweeps go to a temporary folder.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
for mode in "--workers 1" "--workers 2" "--workers 2 --backend dask"; do
  start=$(date +%s.%N)
  mlp sweep configs/sweeps/digits.yaml --out "$out/$(echo "$mode" | tr -d ' -')" $mode > /dev/null 2>&1
  status=$?
  end=$(date +%s.%N)
  python3 -c "print(f'mlp sweep configs/sweeps/digits.yaml $mode: exit {$status}, {$end - $start:.1f} s')"
done
rm -rf "$out"
