#!/usr/bin/env bash
# Peak resident memory of the release uploader (`todo-upload`) sending a 25 MiB and a 1 GiB
# file to a separate `graph-emulator` process (size limit lifted), measured with
# /usr/bin/time -v. The target: under 2 chunks + 16 MiB, whatever the file size.
#
#   scripts/peak_memory.sh [CHUNK_BYTES]      (default 3932160)
#
# The files are made sparse in a temporary directory (never in the repository); a sparse file
# reads as zeros, which costs the uploader the same as any other bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

chunk=${1:-3932160}
cargo build --release -p todo-upload -p graph-emulator --quiet

tmp=$(mktemp -d)
emu_pid=
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

target/release/graph-emulator --max-size unlimited >"$tmp/emulator.json" &
emu_pid=$!
for _ in $(seq 50); do [ -s "$tmp/emulator.json" ] && break; sleep 0.1; done
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$tmp/emulator.json" "$1"; }
base=$(field base_url)
list=$(field list_id)
task=$(field task_id)
token=$(field token)

limit_kib=$(( (2 * chunk + 16 * 1024 * 1024) / 1024 ))
printf '%-8s %12s %14s %14s %10s\n' file bytes peak_rss_kib limit_kib wall_s
status=0
for spec in 25MiB:26214400 1GiB:1073741824; do
  name=${spec%%:*}
  size=${spec##*:}
  file="$tmp/$name.bin"
  truncate -s "$size" "$file"
  GRAPH_TOKEN="$token" /usr/bin/time -v -o "$tmp/time.txt" \
    target/release/todo-upload "$file" --graph-url "$base" --list "$list" --task "$task" \
    --chunk-size "$chunk" --size-limit "$size" --json >"$tmp/out.json"
  peak=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time.txt")
  printf '%-8s %12s %14s %14s %10s\n' "$name" "$size" "$peak" "$limit_kib" "$wall"
  grep -q "\"size\":$size" "$tmp/out.json" || { echo "upload of $name did not report its size"; status=1; }
  [ "$peak" -lt "$limit_kib" ] || { echo "$name: peak $peak KiB is over $limit_kib KiB"; status=1; }
  rm -f "$file"
done
exit $status
