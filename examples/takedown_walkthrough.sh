#!/usr/bin/env bash
# A takedown from intake to withdrawal, end to end, against a real server (README, "A takedown,
# end to end"). Run it from the checkout after `make run` has installed .venv (or `make test`):
#
#     bash examples/takedown_walkthrough.sh
#
# It uses its own $DEEPSHIELD_HOME in a temporary folder and its own server on $PORT (8765),
# so it touches nothing of yours. Needs curl and jq. Every step fails loudly if it goes wrong.
set -euo pipefail
cd "$(dirname "$0")/.."

DS="${DEEPSHIELD_BIN:-.venv/bin/deepshield}"
PY="${DEEPSHIELD_PYTHON:-.venv/bin/python}"
PORT="${PORT:-8765}"
API="http://127.0.0.1:$PORT"
WORK="$(mktemp -d)"
export DEEPSHIELD_HOME="$WORK/home"
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json() { curl -sS --fail-with-body -H 'Content-Type: application/json' "$@"; }

step "Set-up: signing keys for evidence packs, one key per role, and the server"
"$DS" keys init >/dev/null
HELPLINE=$("$DS" keys create --role helpline --label "Example helpline" | tail -n 1)
PLATFORM=$("$DS" keys create --role platform --label "Example platform trust & safety" | tail -n 1)
"$DS" serve --port "$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "$API/v1/health" >/dev/null && break; sleep 0.2; done
"$PY" examples/make_demo_images.py "$WORK/demo"

step "0. The platform registers its content by hash (the files stay with the platform)"
for file in "$WORK"/demo/platform/*.jpg; do
  curl -sS --fail-with-body -H "Authorization: Bearer $PLATFORM" -F "file=@$file" \
       -F "item_id=$(basename "$file" .jpg)" "$API/v1/content" | jq -c '.items[]'
done

step "1. A helpline files a request with hashes made on the victim's device (never the image)"
PDQ=$("$DS" hash "$WORK/demo/photo.jpg" --json | jq -r '.[0].pdq')
jq -n --arg pdq "$PDQ" '{
  requester_role: "helpline",
  signature: {name: "A. Caseworker", statement_ticked: true},
  locations: [{url: "https://platform.example/p/1001"}],
  hashes: [{type: "pdq", value: $pdq}],
  good_faith: true,
  contact: {email: "caller-7731@anon.example"},
  jurisdiction: {depicted_person_country: "US", platform_countries: ["US"]},
  age_check: {depicted_under_18: false}}' >"$WORK/request.json"
json -H "Authorization: Bearer $HELPLINE" -d @"$WORK/request.json" "$API/v1/requests" >"$WORK/filed.json"
CASE=$(jq -r .case.case_number "$WORK/filed.json")
PIN=$(jq -r .pin "$WORK/filed.json")
jq '{case_number: .case.case_number, state: .case.state, due_at: .case.due_at,
     clocks: [.case.clocks[] | {jurisdiction, duty, due_at}]}' "$WORK/filed.json"
echo "The victim is given case number $CASE and PIN $PIN (shown once)."

step "2. The platform sees the request and its clock"
curl -sS --fail-with-body -H "Authorization: Bearer $PLATFORM" "$API/v1/cases/due?hours=48" \
  | jq -c '.[] | {case_number, jurisdiction, duty, due_at, hours_left: (.remaining_s / 3600 | floor)}'

step "3. The platform removes the content"
json -H "Authorization: Bearer $PLATFORM" \
     -d '{"decision": "removed", "reasons": "Intimate image shared without consent (TAKE IT DOWN Act)."}' \
     "$API/v1/cases/$CASE/decision" >"$WORK/decision.json"
jq '{state: .case.state, decision: .case.decision}' "$WORK/decision.json"

step "4. The copy sweep lists the near-copies among the platform's registered content"
jq -c '.sweep.hits[] | {item_id, distance, status}' "$WORK/decision.json"
jq -e '[.sweep.hits[].item_id] == ["post-1001"]' "$WORK/decision.json" >/dev/null
echo "A re-upload of a copy is refused:"
curl -sS --fail-with-body -H "Authorization: Bearer $PLATFORM" -F "file=@$WORK/demo/reupload.jpg" \
     -F item_id=post-2001 "$API/v1/content" | jq -c '.items[] | {item_id, status, blocked}'

step "5. The victim checks her case with its number and PIN, then withdraws it"
curl -sS --fail-with-body -u "$CASE:$PIN" "$API/v1/victim/status" | jq '{state, summary}'
curl -sS --fail-with-body -u "$CASE:$PIN" -X POST "$API/v1/victim/withdraw" \
  | jq '{state, withdraw_effective_at}'
echo "A withdrawal waits 24 h (abusers coerce withdrawals); the helpline confirms it with her now:"
json -H "Authorization: Bearer $HELPLINE" -d '{"confirm_now": true}' "$API/v1/cases/$CASE/withdraw" \
  | jq '{state, withdrawn_at, hash_count}'

step "6. The hashes stop matching"
MATCHES=$(curl -sS --fail-with-body -H "Authorization: Bearer $PLATFORM" \
  -F "file=@$WORK/demo/reupload.jpg" "$API/v1/match" | jq '.matches | length')
echo "matches for a copy of the photo: $MATCHES"
test "$MATCHES" = 0

step "7. The evidence pack renders, and its signature checks"
curl -sS --fail-with-body -H "Authorization: Bearer $HELPLINE" "$API/v1/cases/$CASE/report" -o "$WORK/case.pdf"
"$DS" report check "$WORK/case.pdf"

step "The audit log's hash chain verifies"
"$DS" audit verify
echo
echo "Walkthrough complete."
