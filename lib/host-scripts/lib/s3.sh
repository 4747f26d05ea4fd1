# shellcheck shell=bash
# S3 through the AWS CLI with the host's own role. SHIPSHAPE_S3_ENDPOINT points it at an
# S3-compatible store. Needs BUCKET.

s3_cli() {
  local endpoint=()
  [ -n "${SHIPSHAPE_S3_ENDPOINT:-}" ] && endpoint=(--endpoint-url "$SHIPSHAPE_S3_ENDPOINT")
  aws "${endpoint[@]}" "$@"
}

# Uploads stdin to <key>.
s3_put() { s3_cli s3 cp - "s3://$BUCKET/$1" --only-show-errors --no-progress; }

# Writes <key> to stdout.
s3_get() { s3_cli s3 cp "s3://$BUCKET/$1" - --only-show-errors --no-progress; }

# Keys under <prefix>, one a line.
s3_keys() {
  s3_cli s3api list-objects-v2 --bucket "$BUCKET" --prefix "$1" --query 'Contents[].Key' --output text | tr '\t' '\n' | grep -v '^None$' || true
}
