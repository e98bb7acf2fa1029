#!/usr/bin/env bash
# The refresh flow of EDB's get-token script, reproduced with curl for the
# benchmark: discovery, refresh-token grant, token exchange; three
# requests. The rotated refresh token replaces the one in STATE_FILE.
# Usage: bench-seed-flow.sh API_URL STATE_FILE
set -euo pipefail
api=$1
state=$2

field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }

provider=$(curl -fsS "$api/auth/provider")
issuer=$(printf '%s' "$provider" | field issuerUri)
client_id=$(printf '%s' "$provider" | field clientId)

answer=$(curl -fsS -X POST "${issuer%/}/oauth/token" \
    --data-urlencode grant_type=refresh_token \
    --data-urlencode "client_id=$client_id" \
    --data-urlencode "refresh_token=$(cat "$state")")
printf '%s\n' "$answer" | field refresh_token >"$state"
access_token=$(printf '%s' "$answer" | field access_token)

curl -fsS -X POST "$api/auth/token" -H 'Content-Type: application/json' \
    -d "{\"token\":\"$access_token\"}" | field token
