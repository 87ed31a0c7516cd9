#!/usr/bin/env bash
# CI for the C bindings: the committed header is cbindgen's output, the example compiles
# with -Werror, and uploads through it to graph-emulator succeed: a To Do task by session
# and by single POST, a run killed by SIGKILL and resumed from its state file (mid-upload
# and with the final PUT in flight), an Outlook attachment whose PUTs go to another origin,
# and a drive item whose PUTs refuse the token. Installs what it lacks on Debian (as root).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

step() { printf '\n== %s\n' "$*"; }
passed=0
failed=0
check() {
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok: $what"
  else
    failed=$((failed + 1))
    echo "FAILED: $what" >&2
  fi
}

step "tools"
missing=()
command -v gcc >/dev/null || missing+=(gcc)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
if ! command -v gcc >/dev/null || ! echo '#include <curl/curl.h>' | gcc -E -x c - >/dev/null 2>&1; then
  missing+=(libcurl4-openssl-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  apt-get install -y "${missing[@]}"
fi
# The header is committed as this version writes it.
cbindgen_version=0.29.4
command -v cbindgen >/dev/null || cargo install cbindgen --locked --version "$cbindgen_version"
echo "gcc $(gcc -dumpversion), $(cbindgen --version), curl $(curl-config --version 2>/dev/null || echo '?')"

tmp="$(mktemp -d)"
emu_pid=""
stop_emulator() {
  if [ -n "$emu_pid" ]; then
    kill "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
    emu_pid=""
  fi
}
cleanup() {
  stop_emulator
  rm -rf "$tmp"
}
trap cleanup EXIT

step "the committed header is cbindgen's output"
(cd "$here" && cbindgen --config cbindgen.toml --quiet --output "$tmp/upload_session.h")
header_same() {
  if ! diff -u "$here/include/upload_session.h" "$tmp/upload_session.h"; then
    echo "bindings/c/include/upload_session.h is stale: regenerate it with" >&2
    echo "  (cd bindings/c && cbindgen --config cbindgen.toml --output include/upload_session.h)" >&2
    echo "(it is written by cbindgen $cbindgen_version; this is $(cbindgen --version))" >&2
    return 1
  fi
}
check "include/upload_session.h matches cbindgen" header_same
if [ "$failed" -gt 0 ]; then
  echo "$passed passed, $failed failed"
  exit 1
fi

step "build the library and graph-emulator"
cargo build -p upload-session-c -p graph-emulator
target_dir="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
lib="$target_dir/debug/libupload_session_c.a"
emulator="$target_dir/debug/graph-emulator"

step "compile the header and the example"
mkdir -p "$here/build"
check "the header compiles as C99" \
  gcc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c "$here/include/upload_session.h"
if command -v g++ >/dev/null; then
  check "the header compiles as C++" \
    g++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -x c++ "$here/include/upload_session.h"
fi
# The system libraries Rust's standard library needs in a static link
# (cargo rustc -p upload-session-c --lib --crate-type staticlib -- --print native-static-libs).
check "examples/upload.c compiles with -Wall -Wextra -Werror" \
  gcc -std=c11 -Wall -Wextra -Werror -O1 -I "$here/include" "$here/examples/upload.c" "$lib" \
  -lcurl -lgcc_s -lutil -lrt -lpthread -lm -ldl -o "$here/build/upload"
# The README's example, as it stands there.
sed -n '/<!-- example:begin -->/,/<!-- example:end -->/p' "$here/README.md" | grep -v -e '^<!--' -e '^```' \
  >"$tmp/readme.c"
check "the README's example compiles with -Wall -Wextra -Werror" \
  gcc -std=c11 -Wall -Wextra -Werror -I "$here/include" "$tmp/readme.c" "$lib" \
  -lgcc_s -lutil -lrt -lpthread -lm -ldl -o "$tmp/readme"
readme_runs() { [ "$("$tmp/readme")" = "attached as AAMk= in 4 requests" ]; }
check "the README's example runs and prints what the README says" readme_runs
upload="$here/build/upload"
[ -x "$upload" ] || {
  echo "$passed passed, $failed failed"
  exit 1
}

start_emulator() {
  stop_emulator
  : >"$tmp/emu.json"
  "$emulator" --port 0 "$@" >"$tmp/emu.json" 2>"$tmp/emu.err" &
  emu_pid=$!
  for _ in $(seq 100); do
    jq -e .base_url "$tmp/emu.json" >/dev/null 2>&1 && break
    sleep 0.1
  done
  base="$(jq -r .base_url "$tmp/emu.json")"
  token="$(jq -r .token "$tmp/emu.json")"
  list="$(jq -r .list_id "$tmp/emu.json")"
  task="$(jq -r .task_id "$tmp/emu.json")"
  foreign="$(jq -r .foreign_origin "$tmp/emu.json")"
}
enc() { jq -rn --arg s "$1" '$s|@uri'; }
graph_get() { curl -sS --fail -H "Authorization: Bearer $token" "$@"; }
task_attachments() { echo "$base/me/todo/lists/$(enc "$list")/tasks/$(enc "$task")/attachments"; }
done_id() { sed -n 's/^done id=\([^ ]*\) .*/\1/p' "$1"; }
# Runs the example; its stdout in $tmp/out, its -v log in $tmp/log, its status in $rc.
run_upload() {
  set +e
  GRAPH_TOKEN="$token" "$upload" -v --base "$base" "$@" >"$tmp/out" 2>"$tmp/log"
  rc=$?
  set -e
}
# The collection at $1 holds exactly one attachment: the file $2, byte for byte.
holds_exactly() {
  local url=$1 file=$2 size
  size=$(stat -c %s "$file")
  graph_get "$url" >"$tmp/list.json" || return 1
  [ "$(jq '.value | length' "$tmp/list.json")" = 1 ] || {
    echo "the collection holds $(jq '.value | length' "$tmp/list.json") attachments" >&2
    return 1
  }
  [ "$(jq '.value[0].size' "$tmp/list.json")" = "$size" ] || return 1
  graph_get -o "$tmp/got" "$url/$(enc "$(jq -r '.value[0].id' "$tmp/list.json")")/\$value" || return 1
  cmp -s "$tmp/got" "$file"
}
# Every PUT of the log went to $1 without the token; there were $2 of them.
puts_without_token_to() {
  local prefix=$1 want=$2 puts
  puts=$(grep -c '^-> #[0-9]* PUT ' "$tmp/log" || true)
  [ "$puts" = "$want" ] || {
    echo "$puts PUTs, $want expected" >&2
    return 1
  }
  ! grep '^-> #[0-9]* PUT ' "$tmp/log" | grep -v -e " $prefix/.* token=no " >&2
}

head -c 3500000 /dev/urandom >"$tmp/big.bin"
head -c 100000 /dev/urandom >"$tmp/small.bin"
head -c 5000000 /dev/urandom >"$tmp/resume.bin"
head -c 3200000 /dev/urandom >"$tmp/mail.bin"
head -c 1000000 /dev/urandom >"$tmp/drive.bin"

step "a To Do task: 3.5 MB by session in 1 MB chunks"
start_emulator
run_upload --chunk 1000000 --state "$tmp/big.state" todo "$list" "$task" "$tmp/big.bin"
check "the upload is done (exit $rc)" test "$rc" = 0 -a -n "$(done_id "$tmp/out")"
check "the task holds exactly that file" holds_exactly "$(task_attachments)" "$tmp/big.bin"
check "create and 4 PUTs, each with the token" \
  test "$(grep -c '^-> .* token=yes ' "$tmp/log")" = 5 -a "$(grep -c '^-> ' "$tmp/log")" = 5
check "the state file is gone once done" test ! -e "$tmp/big.state"

step "a To Do task: 100 kB by one POST with base64"
start_emulator
run_upload todo "$list" "$task" "$tmp/small.bin"
check "the upload is done (exit $rc) in one POST" \
  test "$rc" = 0 -a "$(grep -c '^-> #1 POST .*/attachments token=yes' "$tmp/log")" = 1
check "the task holds exactly that file" holds_exactly "$(task_attachments)" "$tmp/small.bin"

step "killed by SIGKILL mid-upload, then resumed from the state file"
start_emulator
state="$tmp/resume.state"
run_upload --chunk 500000 --state "$state" --stop-after 4 todo "$list" "$task" "$tmp/resume.bin"
check "the first run died by SIGKILL (exit $rc) leaving its state" test "$rc" = 137 -a -s "$state"
run_upload --chunk 500000 --state "$state" todo "$list" "$task" "$tmp/resume.bin"
check "the second run resumed and finished (exit $rc)" \
  test "$rc" = 0 -a -n "$(done_id "$tmp/out")" -a "$(grep -c '^\.\. resuming' "$tmp/log")" = 1
check "it asked the session where it stood before sending bytes" \
  grep -q '^-> #[0-9]* GET .*/attachmentSessions/[^ /]* token=yes' "$tmp/log"
check "the task holds exactly one attachment, the file" holds_exactly "$(task_attachments)" "$tmp/resume.bin"

step "killed with the final PUT in flight, then resumed"
start_emulator
state="$tmp/final.state"
# A create and 10 PUTs: the 11th request is the final PUT, which the server completes.
run_upload --chunk 500000 --state "$state" --stop-after 11 todo "$list" "$task" "$tmp/resume.bin"
check "the first run died by SIGKILL (exit $rc) after the final PUT" test "$rc" = 137 -a -s "$state"
run_upload --chunk 500000 --state "$state" todo "$list" "$task" "$tmp/resume.bin"
check "the second run found the result instead of sending again (exit $rc)" \
  grep -q 'found_by_lookup=1' "$tmp/out"
check "no PUT was sent again" test "$(grep -c '^-> #[0-9]* PUT ' "$tmp/log")" = 0
check "the task holds exactly one attachment, the file" holds_exactly "$(task_attachments)" "$tmp/resume.bin"

step "an Outlook message: PUTs to the foreign origin, without the token"
start_emulator
run_upload --chunk 1000000 mail "AAMkADemoItem=" "$tmp/mail.bin"
check "the upload is done (exit $rc)" test "$rc" = 0 -a -n "$(done_id "$tmp/out")"
check "the session was created on Graph with the token" \
  grep -q "^-> #1 POST $base/me/messages/.*/createUploadSession token=yes" "$tmp/log"
check "4 PUTs, all to $foreign, none with the token" puts_without_token_to "$foreign" 4
check "the message holds exactly that file" \
  holds_exactly "$base/me/messages/$(enc "AAMkADemoItem=")/attachments" "$tmp/mail.bin"

step "a OneDrive item: pre-authenticated PUTs without the token"
start_emulator
run_upload --chunk 327680 --force-session drive /Docs/c-example.bin "$tmp/drive.bin"
check "the upload is done (exit $rc)" test "$rc" = 0 -a -n "$(done_id "$tmp/out")"
check "4 PUTs to the upload URL on $foreign, none with the token" puts_without_token_to "$foreign" 4
graph_get "$base/me/drive/root:/Docs/c-example.bin:" >"$tmp/item.json"
check "the drive holds the item, of the file's size" test "$(jq -r .size "$tmp/item.json")" = 1000000
check "the item's QuickXorHash is the file's, as the example computed it" \
  grep -qF "quick_xor_hash=$(jq -r .file.hashes.quickXorHash "$tmp/item.json")" "$tmp/out"

step "a file edited in place mid-upload: nothing more of it is sent"
# The second PUT's answer comes 1.5 s late; the file is touched meanwhile.
start_emulator --fault 'stall=1500@2/put'
head -c 2000000 /dev/urandom >"$tmp/edited.bin"
set +e
GRAPH_TOKEN="$token" "$upload" -v --base "$base" --chunk 500000 --force-session \
  todo "$list" "$task" "$tmp/edited.bin" >"$tmp/out" 2>"$tmp/log" &
edit_pid=$!
for _ in $(seq 100); do
  [ "$(grep -c '^-> #[0-9]* PUT ' "$tmp/log" 2>/dev/null)" -ge 2 ] && break
  sleep 0.05
done
touch -d '+1 second' "$tmp/edited.bin"
wait "$edit_pid"
rc=$?
set -e
check "the run stopped (exit $rc) saying the file changed" \
  grep -q 'changed during the upload' "$tmp/log"
check "no PUT after the change" test "$(grep -c '^-> #[0-9]* PUT ' "$tmp/log")" = 2

stop_emulator
echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
