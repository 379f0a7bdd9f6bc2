#!/bin/sh
# How close `bounces remove` (default flags) comes to the least time a rate limit allows, against
# `okta-org simulate` with no faults: the time from the first request (as the simulator saw it) to the
# end of the process, against the least the limit allows (the simulator's windows start at the whole
# second of the first request; the last window's requests all go at its start and answer a latency
# later). The method of the README's "Speed and memory" table. Not run in CI.
#
#   tests/measure/pacing-speed.sh target/release/okta-org [RUNS=5] [LIMIT=60] [WINDOW=2] [LATENCY_MS=1000] [REQUESTS=60]
#
# One line a run: least, took, ratio, most in flight, 429s, requests inside a Retry-After window.
set -eu
bin=$(realpath "${1:?usage: $0 BINARY [RUNS] [LIMIT] [WINDOW] [LATENCY_MS] [REQUESTS]}")
runs=${2:-5}
limit=${3:-60}
window=${4:-2}
latency_ms=${5:-1000}
requests=${6:-60}
dir=$(mktemp -d)
sim=
cleanup() {
    [ -n "$sim" ] && kill "$sim" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
seq 0 $((requests * 1000 - 1)) | sed 's/.*/user&@example.com/' >"$dir/users"
{ echo email; cat "$dir/users"; } >"$dir/in.csv"
k=1
while [ "$k" -le "$runs" ]; do
    "$bin" simulate --port 0 --users "$dir/users" --token measure-token --rate-limit "$limit" \
        --window "$window" --latency "${latency_ms}ms" >"$dir/sim.out" 2>&1 &
    sim=$!
    url=
    while [ -z "$url" ]; do
        sleep 0.1
        url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$dir/sim.out")
    done
    OKTA_CLIENT_TOKEN=measure-token "$bin" bounces remove "$dir/in.csv" --org-url "$url" \
        --report "$dir/r.csv" -q || echo "run $k: exit status $?"
    end=$(date +%s.%N)
    curl -s "$url/__simulator/record" >"$dir/record.json"
    kill "$sim"
    wait "$sim" 2>/dev/null || true
    sim=
    jq -r --argjson finish "$end" --argjson window "$window" --argjson limit "$limit" \
        --argjson latency "$latency_ms" '
        (.started_epoch + .requests[0].at_ms / 1000) as $first
        | (.requests | length) as $n
        | (($n + $limit - 1) / $limit | floor) as $windows
        | (($first | floor) + $window * ($windows - 1) + $latency / 1000 - $first) as $least
        | ($finish - $first) as $took
        | "least \($least * 100 | round / 100) s, took \($took * 100 | round / 100) s, ratio \($took / $least * 1000 | round / 1000), \($n) requests, most in flight \(.max_in_flight), \([.requests[] | select(.status == 429)] | length) 429s, \(.violations | length) inside a Retry-After window"
        ' "$dir/record.json" | sed "s/^/run $k: /"
    k=$((k + 1))
done
