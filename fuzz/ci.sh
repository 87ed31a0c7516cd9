#!/usr/bin/env bash
# Builds every fuzz target on nightly and replays each committed corpus through it, briefly:
# a crash or a broken invariant fails CI. Works on a machine with only rustup's stable and
# nightly toolchains: cargo-fuzz is installed when missing. Called by .ci/run.
set -euo pipefail

cd "$(dirname "$0")"

if ! command -v rustup >/dev/null || ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz/ci.sh: the nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build

# Seconds of fuzzing per target after its corpus is replayed; 5 targets stay well under
# five minutes on two cores.
SECONDS_PER_TARGET="${FUZZ_SECONDS:-20}"
status=0
for target in $(cargo +nightly fuzz list); do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    # Fresh inputs go to a scratch directory, so CI never grows the committed corpus.
    scratch="$(mktemp -d)"
    echo "== $target: replaying $(ls "$corpus" | wc -l) corpus inputs, then ${SECONDS_PER_TARGET}s"
    if ! cargo +nightly fuzz run "$target" "$scratch" "$corpus" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=4096 -print_final_stats=1 \
        >"$scratch.log" 2>&1; then
        echo "fuzz/ci.sh: $target failed; the crashing input is in fuzz/artifacts/$target/" >&2
        tail -n 60 "$scratch.log" >&2
        status=1
    else
        grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' "$scratch.log" || true
    fi
    rm -rf "$scratch" "$scratch.log"
done
exit "$status"
