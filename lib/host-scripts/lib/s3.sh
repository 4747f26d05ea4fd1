# shellcheck shell=bash
# S3 through the AWS CLI with the host's own role. SHIPSHAPE_S3_ENDPOINT points it at an
# S3-compatible store. Needs BUCKET. Every call has a time limit: S3_LIMIT seconds (default
# SHIPSHAPE_S3_TIMEOUT_SECONDS, 6 h, for streams); short calls pass a shorter one.

S3_T="${SHIPSHAPE_S3_TIMEOUT_SECONDS:-21600}"
S3_SHORT_T="${SHIPSHAPE_S3_SHORT_TIMEOUT_SECONDS:-300}"

s3_cli() {
  local endpoint=()
  [ -n "${SHIPSHAPE_S3_ENDPOINT:-}" ] && endpoint=(--endpoint-url "$SHIPSHAPE_S3_ENDPOINT")
  limit "${S3_LIMIT:-$S3_T}" aws "${endpoint[@]}" "$@"
}

# Uploads stdin to <key>.
s3_put() { s3_cli s3 cp - "s3://$BUCKET/$1" --only-show-errors --no-progress; }

# Writes <key> to stdout.
s3_get() { s3_cli s3 cp "s3://$BUCKET/$1" - --only-show-errors --no-progress; }

# Keys under <prefix>, one a line; fails when the listing fails.
s3_keys() {
  local out
  out=$(S3_LIMIT=$S3_SHORT_T s3_cli s3api list-objects-v2 --bucket "$BUCKET" --prefix "$1" --query 'Contents[].Key' --output text) || return 1
  printf '%s\n' "$out" | tr '\t' '\n' | grep -v -e '^None$' -e '^$' || true
}

# Keys under <prefix> with their sizes, "key<TAB>bytes" a line; fails when the listing fails.
s3_sizes() {
  local out
  out=$(S3_LIMIT=$S3_SHORT_T s3_cli s3api list-objects-v2 --bucket "$BUCKET" --prefix "$1" --query 'Contents[].[Key,Size]' --output text) || return 1
  printf '%s\n' "$out" | grep -v '^None$' || true
}
