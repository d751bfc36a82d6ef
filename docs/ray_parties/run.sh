#!/usr/bin/env bash
# Three Ray node processes on one machine: a head (the server/driver) and one node per party, each
# advertising its own custom resource; each party's file sits in its own node's folder.
set -euo pipefail
cleanup() {  # stop this run's Ray processes by PID (ray stop would stop every Ray process on the machine)
  # (in the recorded run the raylets ignored SIGTERM under load and were then killed by PID with -9)
  for p in $(pgrep -f "session_$(cat /tmp/wt17/mn/session 2>/dev/null || echo none)"); do kill $p 2>/dev/null || true; done
}
trap cleanup EXIT
export RAY_USAGE_STATS_ENABLED=0
export RAY_AUTH_MODE=token  # every node and the driver present the cluster's token (~/.ray/auth_token here)
V=/work/wt17/.venv/bin
W=/tmp/wt17/mn
rm -rf $W/bank-node $W/insurer-node $W/run $W/synth.csv; mkdir -p $W/bank-node $W/insurer-node
$V/python $W/make_files.py $W
$V/ray start --head --port 6390 --num-cpus 1 --include-dashboard false --disable-usage-stats
basename $(readlink -f /tmp/ray/session_latest) | sed 's/^session_//' > /tmp/wt17/mn/session
$V/ray start --address 127.0.0.1:6390 --num-cpus 1 --resources '{"bank": 1}'
$V/ray start --address 127.0.0.1:6390 --num-cpus 1 --resources '{"insurer": 1}'
$V/ray status
time $V/privgen vfl train --transport ray --address 127.0.0.1:6390 --party-resource bank --party-resource insurer \
  --party-file $W/bank-node/bank.csv --party-file $W/insurer-node/insurer.csv --id-column customer_id \
  --model-type vflgan --size small --iterations 300 --seed 0 --out $W/run --quiet
time $V/privgen vfl generate --transport ray --address 127.0.0.1:6390 --party-resource bank --party-resource insurer \
  --model $W/run --n 1000 --seed 0 --out $W/synth.csv
$V/privgen vfl train --transport ray --address 127.0.0.1:6390 --party-resource bank --party-resource hospital \
  --party-file $W/bank-node/bank.csv --party-file $W/insurer-node/insurer.csv --id-column customer_id \
  --iterations 2 --out $W/run-bad || echo "exit $?"
