#!/bin/sh
# Counts requests that arrive inside a Retry-After window, as the simulator records them, over many runs
# of `bounces remove --concurrency 8` against `okta-org simulate --fast-refusals` (503s answered at once,
# 200s after 300 ms). A measurement for the pacer's race, not run in CI (tests/transport.rs keeps a short
# version); each run takes about 15 s.
#
#   tests/measure/fast-refusals.sh target/release/okta-org [RUNS=20] [FAIL_EVERY=3] [BATCHES=24] [LIMIT=30] [WINDOW=5]
#
# The simulator is BINARY's own unless SIMULATOR names another okta-org binary (a release simulator for
# a debug client, say).
#
# One line a run (requests, 503s, seconds, requests inside a window), then the total.
set -eu
bin=$(realpath "${1:?usage: $0 BINARY [RUNS] [FAIL_EVERY] [BATCHES] [LIMIT] [WINDOW]}")
sim_bin=$(realpath "${SIMULATOR:-$bin}")
runs=${2:-20}
every=${3:-3}
batches=${4:-24}
limit=${5:-30}
window=${6:-5}
dir=$(mktemp -d)
sim=
cleanup() {
    [ -n "$sim" ] && kill "$sim" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
seq 0 $((batches * 1000 - 1)) | sed 's/.*/user&@example.com/' >"$dir/users"
{ echo email; cat "$dir/users"; } >"$dir/in.csv"
bad=0
inside=0
k=1
while [ "$k" -le "$runs" ]; do
    "$sim_bin" simulate --port 0 --users "$dir/users" --token measure-token --rate-limit "$limit" --window "$window" \
        --fail-every "$every" --latency 300ms --fast-refusals >"$dir/sim.out" 2>&1 &
    sim=$!
    url=
    while [ -z "$url" ]; do
        sleep 0.1
        url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$dir/sim.out")
    done
    start=$(date +%s.%N)
    OKTA_CLIENT_TOKEN=measure-token "$bin" bounces remove "$dir/in.csv" --org-url "$url" \
        --concurrency 8 --report "$dir/r.csv" -q || echo "run $k: exit status $?"
    end=$(date +%s.%N)
    curl -s "$url/__simulator/record" >"$dir/record.json"
    kill "$sim"
    wait "$sim" 2>/dev/null || true
    sim=
    n=$(jq '.violations | map(select(test("inside a Retry-After window"))) | length' "$dir/record.json")
    echo "run $k: $(jq '.requests | length' "$dir/record.json") requests," \
        "$(jq '[.requests[] | select(.status == 503)] | length' "$dir/record.json") 503s," \
        "$(jq '.accepted | length' "$dir/record.json") addresses accepted," \
        "$(echo "$end - $start" | bc) s, $n inside a Retry-After window" \
        "$(jq -c '.violations' "$dir/record.json")"
    inside=$((inside + n))
    [ "$n" -gt 0 ] && bad=$((bad + 1))
    k=$((k + 1))
done
echo "$bad of $runs runs had a request inside a Retry-After window ($inside requests in all)"
