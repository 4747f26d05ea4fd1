# shellcheck shell=bash
# S3 for the host scripts: s3_put, s3_get, s3_keys, s3_sizes. Needs BUCKET (set after sourcing).
# The transport is chosen once, when this file is sourced (SHIPSHAPE_S3_TRANSPORT=auto|curl|cli):
#   curl  curl's own SigV4 signing (--aws-sigv4, curl >= 7.88: older versions sign uploads with
#         the hash of an empty body whatever x-amz-content-sha256 says): a process per request.
#         Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, else the shared
#         credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE
#         or default: SSM hybrid nodes keep theirs there), else EC2 IMDSv2. They reach curl through
#         -K from a pipe: never in argv, never printed.
#   cli   the AWS CLI, with an AWS_CONFIG_FILE of its own that bounds its memory.
#   auto  curl when it can sign and credentials resolve, else the CLI (default).
# Region: SHIPSHAPE_REGION, AWS_REGION or AWS_DEFAULT_REGION. SHIPSHAPE_S3_ENDPOINT points at an
# S3-compatible store (path style). Every request has a time limit: S3_LIMIT seconds (default
# SHIPSHAPE_S3_TIMEOUT_SECONDS, 6 h, for streams; an upload's parts share it); short calls pass a
# shorter one. Failures print the reason (S3's error code and message) on stderr.

S3_T="${SHIPSHAPE_S3_TIMEOUT_SECONDS:-21600}"
S3_SHORT_T="${SHIPSHAPE_S3_SHORT_TIMEOUT_SECONDS:-300}"
S3_REGION="${SHIPSHAPE_REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}"
# Uploads go in parts of SHIPSHAPE_S3_PART_BYTES (64 MiB; two part files in TMPDIR at a time)
# that double every tenth of S3's 10,000 parts (at most 5 GiB each), so any stream S3 can hold
# fits without a size hint. 64 MiB parts start half the programs 32 MiB ones did (a backup to a
# discarding endpoint took 0.92x the time, paired); 128 MiB gained nothing more.
S3_PART_BYTES="${SHIPSHAPE_S3_PART_BYTES:-67108864}"
S3_MAX_PARTS="${SHIPSHAPE_S3_MAX_PARTS:-10000}"
# curl retries a request 4 times after a transient error, with its own back-off (1, 2, 4, 8 s)
# unless SHIPSHAPE_S3_RETRY_DELAY_SECONDS fixes the wait (whole seconds; tests shorten it).
S3_RETRY=(--retry 4)
if [[ ${SHIPSHAPE_S3_RETRY_DELAY_SECONDS:-} =~ ^[1-9][0-9]{0,3}$ ]]; then S3_RETRY+=(--retry-delay "$SHIPSHAPE_S3_RETRY_DELAY_SECONDS"); fi
S3_EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
S3_KEY_ID="" S3_SECRET="" S3_TOKEN="" S3_CREDS_FROM="" S3_CREDS_AT=0 S3_WHY="" S3_IMDS_TOKEN=""

# limit (common.sh) for the last command of a subshell (a pipeline element, $(...), a background
# job): the subshell becomes the command, one bash (~3 MB) less for each element that runs.
limit_exec() {
  local seconds=$1
  shift
  if have timeout; then set -- timeout "$seconds" "$@"; fi
  if [ "$RESULT_FD" = 1 ]; then exec "$@"; else exec "$@" {RESULT_FD}>&-; fi
}

# Seconds since the epoch in S3_NOW, without a process: printf's %(...)T (bash 4.2+); EPOCHSECONDS
# would need bash 5, and RHEL 8 and its rebuilds ship 4.4.
s3__now() { printf -v S3_NOW '%(%s)T' -1; }

# --- credentials ----------------------------------------------------------------------------------
s3__creds_file() {
  local f="${AWS_SHARED_CREDENTIALS_FILE:-${HOME:-/root}/.aws/credentials}" want="${AWS_PROFILE:-default}"
  local line sec="" id="" secret="" token="" re_sec='^[[:space:]]*\[[[:space:]]*([^]]*[^][:space:]])[[:space:]]*\]' re_kv='^[[:space:]]*([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*(.*)$'
  [ -r "$f" ] || return 1
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    if [[ $line =~ $re_sec ]]; then sec=${BASH_REMATCH[1]}; continue; fi
    if [ "$sec" != "$want" ] || ! [[ $line =~ $re_kv ]]; then continue; fi
    line=${BASH_REMATCH[2]}
    line=${line%"${line##*[![:space:]]}"}
    case "${BASH_REMATCH[1],,}" in
      aws_access_key_id) id=$line ;;
      aws_secret_access_key) secret=$line ;;
      aws_session_token) token=$line ;;
    esac
  done < "$f"
  [ -n "$id" ] && [ -n "$secret" ] || return 1
  S3_KEY_ID=$id S3_SECRET=$secret S3_TOKEN=$token
}

# One IMDSv2 request (token from a pipe), 1 s to connect, 2 s in all.
s3__imds() { # path [method]
  limit 3 curl -sS --fail --noproxy '*' --connect-timeout 1 --max-time 2 -X "${2:-GET}" -K <(
    if [ "${2:-}" = PUT ]; then printf 'header = "X-aws-ec2-metadata-token-ttl-seconds: 21600"\n'; else printf 'header = "X-aws-ec2-metadata-token: %s"\n' "$S3_IMDS_TOKEN"; fi
  ) "${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}$1"
}
s3__json() { [[ $2 =~ \"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\" ]] && printf '%s' "${BASH_REMATCH[1]}"; }
s3__creds_imds() {
  local role doc
  [ "${AWS_EC2_METADATA_DISABLED:-}" != true ] && have curl || return 1
  S3_IMDS_TOKEN=$(s3__imds /latest/api/token PUT 2>/dev/null) && [ -n "$S3_IMDS_TOKEN" ] || return 1
  role=$(s3__imds /latest/meta-data/iam/security-credentials/ 2>/dev/null | head -n 1) && [ -n "$role" ] || return 1
  doc=$(s3__imds "/latest/meta-data/iam/security-credentials/$role" 2>/dev/null) || return 1
  S3_KEY_ID=$(s3__json AccessKeyId "$doc") && S3_SECRET=$(s3__json SecretAccessKey "$doc") || return 1
  S3_TOKEN=$(s3__json Token "$doc") || S3_TOKEN=""
}

# Resolves credentials (env, file, IMDSv2); S3_WHY says why not.
s3__resolve() {
  s3__now; S3_KEY_ID="" S3_SECRET="" S3_TOKEN="" S3_CREDS_AT=$S3_NOW
  if [ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ]; then
    S3_KEY_ID=$AWS_ACCESS_KEY_ID S3_SECRET=$AWS_SECRET_ACCESS_KEY S3_TOKEN=${AWS_SESSION_TOKEN:-} S3_CREDS_FROM=env
  elif s3__creds_file; then S3_CREDS_FROM="file"
  elif s3__creds_imds; then S3_CREDS_FROM="imds"
  else S3_CREDS_FROM=""; S3_WHY="no credentials in the environment, the shared credentials file or the instance metadata"; return 1
  fi
}
# Credentials that rotate (instance role, hybrid node file) are read again after 10 minutes.
s3__fresh() {
  s3__now
  if [ "$S3_CREDS_FROM" != env ] && [ $((S3_NOW - S3_CREDS_AT)) -ge 600 ]; then s3__resolve || true; fi
}

# Whether curl can sign for S3 (one `curl --version`, no AWS CLI start-up).
s3__curl_signs() {
  local v re='^curl ([0-9]+)\.([0-9]+)'
  have curl || { S3_WHY="curl is not installed"; return 1; }
  v=$(limit "$((S3_SHORT_T < 10 ? S3_SHORT_T : 10))" curl --version 2>/dev/null) || v=""
  [[ $v =~ $re ]] || { S3_WHY="cannot read curl's version"; return 1; }
  if [ "${BASH_REMATCH[1]}" -gt 7 ] || { [ "${BASH_REMATCH[1]}" = 7 ] && [ "${BASH_REMATCH[2]}" -ge 88 ]; }; then return 0; fi
  S3_WHY="curl ${BASH_REMATCH[1]}.${BASH_REMATCH[2]} cannot sign uploads for S3 (needs 7.88)"
  return 1
}

S3_TRANSPORT=cli
case "${SHIPSHAPE_S3_TRANSPORT:-auto}" in
  cli) ;;
  curl) S3_TRANSPORT=curl; if s3__curl_signs; then s3__resolve || true; fi ;;
  *) if [ -n "$S3_REGION" ] && s3__curl_signs && s3__resolve; then S3_TRANSPORT=curl; fi ;;
esac
# The command the transport runs, for the scripts' tool checks.
# shellcheck disable=SC2034
if [ "$S3_TRANSPORT" = cli ]; then S3_TOOL=aws; else S3_TOOL=curl; fi

# --- curl transport -------------------------------------------------------------------------------
s3__ready() {
  if [ -z "$S3_KEY_ID" ]; then echo "S3 over curl: ${S3_WHY:-no credentials}" >&2; return 1; fi
  if [ -z "$S3_REGION" ]; then echo "S3 over curl: no region (SHIPSHAPE_REGION, AWS_REGION or AWS_DEFAULT_REGION)" >&2; return 1; fi
  [ -n "${BUCKET:-}" ] || { echo "S3: BUCKET is not set" >&2; return 1; }
}

# Percent-encodes a key or query value byte by byte (AWS's URI encoding); "/" kept when $2 is /.
s3__enc() {
  local LC_ALL=C s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in
      [A-Za-z0-9._~-]) out+=$c ;;
      /) if [ "${2:-}" = / ]; then out+=/; else out+=%2F; fi ;;
      *) printf -v c '%%%02X' "'$c"; out+=${c: -3} ;;
    esac
  done
  printf '%s' "$out"
}

# The URL of an encoded key (empty: the bucket) with an optional query (sorted, encoded).
s3__url() { # encoded-key [query]
  local base host=amazonaws.com q=${2:+?$2}
  [[ $S3_REGION == cn-* ]] && host=amazonaws.com.cn
  if [ -n "${SHIPSHAPE_S3_ENDPOINT:-}" ]; then base="${SHIPSHAPE_S3_ENDPOINT%/}/$BUCKET"
  elif [[ $BUCKET == *.* ]]; then base="https://s3.$S3_REGION.$host/$BUCKET"
  else base="https://$BUCKET.s3.$S3_REGION.$host"; [ -n "$1" ] || base+=/
  fi
  printf '%s%s%s' "$base" "${1:+/$1}" "$q"
}

# The curl config with the credentials, read by curl from a pipe (quotes and backslashes escaped).
s3__auth() {
  local id=${S3_KEY_ID//\\/\\\\} secret=${S3_SECRET//\\/\\\\} token=${S3_TOKEN//\\/\\\\}
  printf 'user = "%s:%s"\n' "${id//\"/\\\"}" "${secret//\"/\\\"}"
  [ -z "$token" ] || printf 'header = "x-amz-security-token: %s"\n' "${token//\"/\\\"}"
}
s3__curl() { # seconds curl-args...  (S3_CURL_EXEC=1: the caller's subshell becomes curl)
  local t=$1 run=limit
  shift
  s3__fresh
  [ "${S3_CURL_EXEC:-}" != 1 ] || run=limit_exec
  "$run" "$t" curl -sS -g --path-as-is --connect-timeout 10 --aws-sigv4 "aws:amz:$S3_REGION:s3" -K <(s3__auth) "$@"
}

# The S3 error in a response body, as "Code: Message".
s3__error() { # file
  local code msg
  code=$(sed -n 's#.*<Code>\([^<]*\)</Code>.*#\1#p' "$1" 2>/dev/null | head -n 1)
  msg=$(sed -n 's#.*<Message>\([^<]*\)</Message>.*#\1#p' "$1" 2>/dev/null | head -n 1)
  printf '%s' "${code:-no S3 error code}${msg:+: $msg}"
}

# One request whose response goes to <out>; fails (reason on stderr) unless the answer is 2xx.
s3__req() { # what out seconds curl-args...
  local what=$1 out=$2 t=$3 code rc=0
  shift 3
  code=$(S3_CURL_EXEC=1 s3__curl "$t" -o "$out" -w '%{http_code}' "$@" 2> "$out.err") || rc=$?
  if [ "$rc" = 124 ]; then echo "$what: no answer from S3 within $t s" >&2; return 1; fi
  if [ "$rc" != 0 ]; then echo "$what: curl failed (exit $rc): $(tr -c '\40-\176' ' ' < "$out.err" | head -c 200)" >&2; return 1; fi
  case "$code" in
    2??) return 0 ;;
    '' | 000) echo "$what: no HTTP answer" >&2 ;;
    *) echo "$what: HTTP $code $(s3__error "$out")" >&2 ;;
  esac
  return 1
}

# SHA-256 of a file: hex in S3_HEX, base64 in S3_B64 (one hashing pass).
S3_HASH=(sha256sum)
have openssl && S3_HASH=(openssl dgst -sha256 -r)
s3__sums() {
  local n i t=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ out=""
  s3__left
  S3_HEX=$(limit_exec "$S3_LEFT" "${S3_HASH[@]}" < "$1" 2>/dev/null) || S3_HEX=""
  S3_HEX=${S3_HEX%% *}
  [[ $S3_HEX =~ ^[0-9a-f]{64}$ ]] || { echo "cannot hash the upload (${S3_HASH[0]})" >&2; return 1; }
  for ((i = 0; i < 60; i += 6)); do
    n=$((16#${S3_HEX:i:6}))
    out+=${t:n>>18&63:1}${t:n>>12&63:1}${t:n>>6&63:1}${t:n&63:1}
  done
  n=$((16#${S3_HEX:60:4} << 8))
  S3_B64=$out${t:n>>18&63:1}${t:n>>12&63:1}${t:n>>6&63:1}=
}

# Size of part <n> (1-based) in S3_SIZE.
s3__part_size() {
  local step=$((S3_MAX_PARTS / 10)) shift
  [ "$step" -ge 1 ] || step=1
  shift=$((($1 - 1) / step))
  [ "$shift" -le 20 ] || shift=20
  S3_SIZE=$((S3_START << shift))
  [ "$S3_SIZE" -le 5368709120 ] || S3_SIZE=5368709120
}

# The layout of <n> parts as the manifest's checksum ends (<bytes>x<count>[+<bytes>x<count>], see
# lib/results/checksum.ts) in S3_LAYOUT.
s3__layout() { # n
  local k=1 size="" count=0
  S3_LAYOUT=""
  for ((k = 1; k <= $1; k++)); do
    s3__part_size "$k"
    if [ "$S3_SIZE" = "$size" ]; then count=$((count + 1)); continue; fi
    [ -z "$size" ] || S3_LAYOUT+="${S3_LAYOUT:++}${size}x$count"
    size=$S3_SIZE count=1
  done
  S3_LAYOUT+="${S3_LAYOUT:++}${size}x$count"
}

# S3's composite SHA-256 of a multipart upload: the SHA-256 of the parts' SHA-256 digests (one
# hex digest a line on stdin), as hex on stdout. The digests go to the hash as bytes.
s3_composite() {
  local hex out
  hex=$(sed 's/../\\x&/g' | tr -d '\n') || return 1
  out=$(printf '%b' "$hex" | "${S3_HASH[@]}") || return 1
  out=${out%% *}
  [[ $out =~ ^[0-9a-f]{64}$ ]] || return 1
  printf '%s' "$out"
}

# Reads the next <bytes> of stdin into <file> within the upload's time left: dd in 64 KiB blocks
# (head reads 8 KiB at a time), head for sizes that are no multiple of them (tests' tiny parts).
s3__read() { # file bytes
  local left
  s3__now
  left=$((S3_DEADLINE - S3_NOW))
  [ "$left" -ge 1 ] || left=1
  # A new file each time: rewriting a truncated file makes ext4 flush it to disk (auto_da_alloc).
  rm_existing "$1"
  if [ $(($2 % 65536)) = 0 ]; then limit "$left" dd bs=65536 iflag=fullblock count=$(($2 / 65536)) status=none of="$1"
  else limit "$left" head -c "$2" > "$1"
  fi || { echo "reading the stream to upload failed or took longer than ${S3_LIMIT:-$S3_T} s" >&2; return 1; }
}
# The upload's time left in S3_LEFT (at least 1 s).
s3__left() { s3__now; S3_LEFT=$((S3_DEADLINE - S3_NOW)); [ "$S3_LEFT" -ge 1 ] || S3_LEFT=1; }

# Uploads part <n> from <file>: one hash of its bytes signs the request and gives S3 the
# checksum it checks the part against; leaves "etag<TAB>sha256-base64<TAB>sha256-hex" in
# $S3_DIR/etag.<n>.
s3__part() { # file n
  local rc=0
  if s3__sums "$1"; then
    s3__left
    s3__req "part $2 of $S3_KEY" "$S3_DIR/r.$2" "$S3_LEFT" "${S3_RETRY[@]}" -T "$1" -D "$S3_DIR/h.$2" \
      -H "x-amz-content-sha256: $S3_HEX" -H "x-amz-checksum-sha256: $S3_B64" "$(s3__url "$S3_EKEY" "partNumber=$2&uploadId=$S3_EUPLOAD")" || rc=1
  else rc=1
  fi
  [ "$rc" = 0 ] || return 1
  local etag="" line re='^[Ee][Tt][Aa][Gg]:[[:space:]]*([^[:space:]]+)'
  while IFS= read -r line; do [[ $line =~ $re ]] && etag=${BASH_REMATCH[1]}; done < "$S3_DIR/h.$2"
  [ -n "$etag" ] || { echo "part $2 of $S3_KEY: S3 returned no ETag" >&2; return 1; }
  printf '%s\t%s\t%s\n' "$etag" "$S3_B64" "$S3_HEX" > "$S3_DIR/etag.$2"
}
s3__part_bg() { s3__part "$@" 2> "$S3_DIR/part.$2.err" & S3_PID=$!; }
s3__part_wait() { # n
  local pid=$S3_PID
  S3_PID=""
  wait "$pid" && return 0
  head -c 400 "$S3_DIR/part.$1.err" >&2
  return 1
}

s3__put_one() { # file
  s3__sums "$1" || return 1
  s3__left
  s3__req "upload of $S3_KEY" "$S3_DIR/r.put" "$S3_LEFT" "${S3_RETRY[@]}" -T "$1" \
    -H "x-amz-content-sha256: $S3_HEX" -H "x-amz-checksum-sha256: $S3_B64" "$(s3__url "$S3_EKEY")"
}

# Stops a multipart upload that did not complete (its parts would otherwise be billed).
s3__abort() {
  # The part's job may have ended already (kill fails then, which must not end this trap under set -e).
  [ -z "${S3_PID:-}" ] || kill "$S3_PID" 2>/dev/null || true
  [ -n "${S3_UPLOAD:-}" ] || return 0
  s3__req "abort of the upload of $S3_KEY" "$S3_DIR/r.abort" 30 -X DELETE -H "x-amz-content-sha256: $S3_EMPTY_SHA" "$(s3__url "$S3_EKEY" "uploadId=$S3_EUPLOAD")" || true
}

# [sums_file]: "<checksum> <bytes>" of what was uploaded, written once it is: the SHA-256 of a
# single PUT, or a multipart upload's composite SHA-256 and part layout (lib/results/checksum.ts)
# from the parts' own hashes, so each byte is hashed once.
s3__curl_put() { # key [expected_bytes] [sums_file]
  local a="$S3_DIR/a" b="$S3_DIR/b" tmp n=1 got i body total etag sum hex composite sums=${3:-}
  S3_KEY=$1 S3_EKEY=$(s3__enc "$1" /) S3_UPLOAD="" S3_EUPLOAD="" S3_PID=""
  s3__now
  S3_DEADLINE=$((S3_NOW + ${S3_LIMIT:-$S3_T}))
  # A size hint starts with parts big enough for the whole stream in a tenth of the parts.
  S3_START=$S3_PART_BYTES
  if [[ ${2:-} =~ ^[0-9]+$ ]] && [ "$2" -gt $((S3_START * (S3_MAX_PARTS / 10 > 0 ? S3_MAX_PARTS / 10 : 1))) ]; then
    S3_START=$(( ($2 / (S3_MAX_PARTS / 10 > 0 ? S3_MAX_PARTS / 10 : 1) / 1048576 + 1) * 1048576 ))
  fi
  s3__part_size 1
  s3__read "$a" "$S3_SIZE" || return 1
  got=$(stat -c %s "$a")
  if [ "$got" -lt "$S3_SIZE" ]; then
    # One part: its own SHA-256 is the stream's.
    s3__put_one "$a" || return 1
    [ -z "$sums" ] || printf '%s %s\n' "$S3_HEX" "$got" > "$sums"
    return
  fi
  # A full first part starts a multipart upload at once (one part is a valid one), so that it
  # is hashed and uploaded while the next is read.
  total=$got
  s3__left
  s3__req "start of the upload of $S3_KEY" "$S3_DIR/r.create" "$S3_LEFT" -X POST -H "x-amz-checksum-algorithm: SHA256" -H "x-amz-content-sha256: $S3_EMPTY_SHA" \
    "$(s3__url "$S3_EKEY" "uploads=")" || return 1
  S3_UPLOAD=$(sed -n 's#.*<UploadId>\([^<]*\)</UploadId>.*#\1#p' "$S3_DIR/r.create" | head -n 1)
  [ -n "$S3_UPLOAD" ] || { echo "start of the upload of $S3_KEY: S3 returned no UploadId" >&2; return 1; }
  S3_EUPLOAD=$(s3__enc "$S3_UPLOAD")
  s3__part_bg "$a" 1
  while :; do
    # Part n+1 is read into $b while part n is hashed and uploaded from $a by its job.
    s3__part_size $((n + 1))
    s3__read "$b" "$S3_SIZE" || return 1
    got=$(stat -c %s "$b")
    s3__part_wait "$n" || return 1
    [ "$got" -gt 0 ] || break
    n=$((n + 1))
    [ "$n" -le "$S3_MAX_PARTS" ] || { echo "upload of $S3_KEY: the stream is larger than $S3_MAX_PARTS parts hold" >&2; return 1; }
    total=$((total + got))
    # Rotated credentials are read here, once, rather than in every part's own subshell.
    s3__fresh
    s3__part_bg "$b" "$n"
    tmp=$a a=$b b=$tmp
    s3__part_size "$n"
    if [ "$got" -lt "$S3_SIZE" ]; then s3__part_wait "$n" || return 1; break; fi
  done
  body="$S3_DIR/complete.xml"
  {
    printf '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    for ((i = 1; i <= n; i++)); do
      IFS=$'\t' read -r etag sum hex < "$S3_DIR/etag.$i"
      printf '%s\n' "$hex" >&3
      printf '<Part><PartNumber>%s</PartNumber><ETag>%s</ETag><ChecksumSHA256>%s</ChecksumSHA256></Part>' "$i" "$etag" "$sum"
    done
    printf '</CompleteMultipartUpload>'
  } > "$body" 3> "$S3_DIR/parts.hex"
  # The composite is computed before the upload completes: a failure leaves no object.
  if [ -n "$sums" ]; then
    composite=$(s3_composite < "$S3_DIR/parts.hex") || { echo "upload of $S3_KEY: the composite SHA-256 of its $n parts (${S3_HASH[0]}) failed" >&2; return 1; }
    s3__layout "$n"
  fi
  s3__sums "$body" || return 1
  s3__left
  s3__req "completion of the upload of $S3_KEY" "$S3_DIR/r.complete" "$S3_LEFT" "${S3_RETRY[@]}" -X POST --data-binary "@$body" -H "Content-Type: application/xml" \
    -H "x-amz-content-sha256: $S3_HEX" "$(s3__url "$S3_EKEY" "uploadId=$S3_EUPLOAD")" || return 1
  # CompleteMultipartUpload can fail after its 200 OK: the error is then in the body.
  if grep -q '<Error>' "$S3_DIR/r.complete"; then echo "completion of the upload of $S3_KEY: $(s3__error "$S3_DIR/r.complete")" >&2; return 1; fi
  S3_UPLOAD=""
  [ -z "$sums" ] || printf '%s-%s %s\n' "$composite" "$S3_LAYOUT" "$total" > "$sums"
}

# XML text to plain text (named and numeric entities) in S3_OUT.
s3__unxml() {
  local s=$1 e n c re='^([^&]*)&([^;&]*);(.*)$'
  S3_OUT=""
  while [[ $s =~ $re ]]; do
    S3_OUT+=${BASH_REMATCH[1]} e=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]} n=-1
    case "$e" in
      amp) S3_OUT+='&' ;; lt) S3_OUT+='<' ;; gt) S3_OUT+='>' ;; quot) S3_OUT+='"' ;; apos) S3_OUT+="'" ;;
      '#'[xX][0-9A-Fa-f]*) n=$((16#${e:2})) ;;
      '#'[0-9]*) n=$((10#${e:1})) ;;
      *) S3_OUT+="&$e;" ;;
    esac
    [ "$n" -ge 0 ] || continue
    # UTF-8 bytes of the code point.
    if [ "$n" -lt 128 ]; then printf -v c '\\x%02x' "$n"
    elif [ "$n" -lt 2048 ]; then printf -v c '\\x%02x\\x%02x' $((192 | n >> 6)) $((128 | (n & 63)))
    elif [ "$n" -lt 65536 ]; then printf -v c '\\x%02x\\x%02x\\x%02x' $((224 | n >> 12)) $((128 | (n >> 6 & 63))) $((128 | (n & 63)))
    else printf -v c '\\x%02x\\x%02x\\x%02x\\x%02x' $((240 | n >> 18)) $((128 | (n >> 12 & 63))) $((128 | (n >> 6 & 63))) $((128 | (n & 63)))
    fi
    printf -v c '%b' "$c"
    S3_OUT+=$c
  done
  S3_OUT+=$s
}

# "key<TAB>size" lines under <prefix>, every page (ListObjectsV2), keys XML-unescaped.
s3__list() { # prefix
  local token="" q out="$S3_DIR/list.xml" line
  while :; do
    q="list-type=2&prefix=$(s3__enc "$1")"
    [ -z "$token" ] || q="continuation-token=$(s3__enc "$token")&$q"
    s3__req "listing of $1" "$out" "$S3_SHORT_T" -H "x-amz-content-sha256: $S3_EMPTY_SHA" "$(s3__url "" "$q")" || return 1
    tr -d '\n\r' < "$out" | sed 's#<Contents>#\n#g' | sed -n 's#^.*<Key>\([^<]*\)</Key>.*<Size>\([0-9]*\)</Size>.*$#\1\t\2#p' > "$out.lines" || return 1
    while IFS= read -r line || [ -n "$line" ]; do
      if [[ $line == *'&'* ]]; then s3__unxml "$line"; line=$S3_OUT; fi
      printf '%s\n' "$line"
    done < "$out.lines"
    grep -q '<IsTruncated>true</IsTruncated>' "$out" || return 0
    token=$(tr -d '\n\r' < "$out" | sed -n 's#.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*#\1#p')
    [ -n "$token" ] || { echo "listing of $1: truncated without a continuation token" >&2; return 1; }
    s3__unxml "$token"
    token=$S3_OUT
  done
}

# --- CLI transport --------------------------------------------------------------------------------
# The CLI's own config: the user's (region, profiles) with an s3 section that bounds its memory
# (5 MB parts, 2 requests at a time, a queue of 1: ~118 MB) and skips payload signing.
s3__cli_config() {
  local src="${AWS_CONFIG_FILE:-${HOME:-/root}/.aws/config}" hdr="[default]"
  [ "${AWS_PROFILE:-default}" = default ] || hdr="[profile $AWS_PROFILE]"
  [ -r "$src" ] || src=/dev/null
  awk -v hdr="$hdr" -v s3='s3 =\n  multipart_chunksize = 5MB\n  max_concurrent_requests = 2\n  max_queue_size = 1\n  payload_signing_enabled = false' '
    function trim(s) { gsub(/^[ \t]+|[ \t\r]+$/, "", s); return s }
    /^[ \t]*\[/ { skip = 0; sec = (trim($0) == hdr); print; if (sec) { print s3; done = 1 }; next }
    sec && /^[ \t]*s3[ \t]*=/ { skip = 1; next }
    skip && /^[ \t]+[^ \t]/ { next }
    { skip = 0; print }
    END { if (!done) { print hdr; print s3 } }' "$src"
}
s3_cli() (
  local endpoint=() cfg
  trap 'exit 143' TERM
  [ -n "${SHIPSHAPE_S3_ENDPOINT:-}" ] && endpoint=(--endpoint-url "$SHIPSHAPE_S3_ENDPOINT")
  if cfg=$(umask 077 && mktemp 2>/dev/null) && s3__cli_config > "$cfg"; then
    trap 'rm -f "$cfg"' EXIT
    export AWS_CONFIG_FILE="$cfg"
  fi
  limit "${S3_LIMIT:-$S3_T}" aws "${endpoint[@]}" "$@"
)

# --- the interface --------------------------------------------------------------------------------
# shellcheck disable=SC2030,SC2031 # S3_DIR belongs to the subshell on purpose
# Runs a curl-transport function in a subshell with a private temporary directory, removed
# (and an unfinished multipart upload aborted) however it ends.
s3__with_dir() {
  (
    trap 'exit 143' TERM
    trap 'exit 130' INT
    s3__ready || exit 1
    umask 077
    S3_DIR=$(mktemp -d 2>/dev/null) || { echo "S3: cannot create a temporary directory in ${TMPDIR:-/tmp}" >&2; exit 1; }
    trap 's3__abort; rm -rf "$S3_DIR"' EXIT
    "$@"
  )
}

# Uploads stdin to <key>. [expected_bytes] sizes the parts (and is the CLI's --expected-size).
# [sums_file] (curl transport only): gets "<checksum> <bytes>" of what was uploaded (the
# manifest's form, lib/results/checksum.ts), from the same read of stdin as the upload, once it
# succeeded.
s3_put() {
  if [ "$S3_TRANSPORT" = curl ]; then s3__with_dir s3__curl_put "$@"; return; fi
  [ -z "${3:-}" ] || { echo "s3_put: a sums file needs the curl transport" >&2; return 2; }
  local hint=()
  [[ ${2:-} =~ ^[0-9]+$ ]] && hint=(--expected-size "$2")
  s3_cli s3 cp - "s3://$BUCKET/$1" --only-show-errors --no-progress "${hint[@]}"
}

# shellcheck disable=SC2031 # runs inside s3__with_dir, which sets S3_DIR
# Writes <key> to stdout (not retried: the bytes already written cannot be taken back).
s3__curl_get() { # key
  local rc=0 url
  url=$(s3__url "$(s3__enc "$1" /)")
  s3__curl "${S3_LIMIT:-$S3_T}" --fail -H "x-amz-content-sha256: $S3_EMPTY_SHA" "$url" 2> "$S3_DIR/get.err" || rc=$?
  [ "$rc" = 0 ] && return 0
  if [ "$rc" = 124 ]; then echo "download of $1: not finished within ${S3_LIMIT:-$S3_T} s" >&2
  elif [ "$rc" = 22 ]; then
    # Ask again for one byte to read S3's reason.
    s3__req "download of $1" "$S3_DIR/r.get" "$S3_SHORT_T" -r 0-0 -H "x-amz-content-sha256: $S3_EMPTY_SHA" "$url" && echo "download of $1 failed: $(tr -c '\40-\176' ' ' < "$S3_DIR/get.err" | head -c 200)" >&2
  else echo "download of $1: curl failed (exit $rc): $(tr -c '\40-\176' ' ' < "$S3_DIR/get.err" | head -c 200)" >&2
  fi
  return 1
}
s3_get() {
  if [ "$S3_TRANSPORT" = curl ]; then s3__with_dir s3__curl_get "$1"; return; fi
  s3_cli s3 cp "s3://$BUCKET/$1" - --only-show-errors --no-progress
}

# Keys under <prefix>, one a line; fails when the listing fails.
s3_keys() {
  local out
  if [ "$S3_TRANSPORT" = curl ]; then
    out=$(s3__with_dir s3__list "$1") || return 1
    [ -z "$out" ] || printf '%s\n' "$out" | cut -f 1
    return 0
  fi
  out=$(S3_LIMIT=$S3_SHORT_T s3_cli s3api list-objects-v2 --bucket "$BUCKET" --prefix "$1" --query 'Contents[].Key' --output text) || return 1
  printf '%s\n' "$out" | tr '\t' '\n' | grep -v -e '^None$' -e '^$' || true
}

# Keys under <prefix> with their sizes, "key<TAB>bytes" a line; fails when the listing fails.
s3_sizes() {
  local out
  if [ "$S3_TRANSPORT" = curl ]; then
    out=$(s3__with_dir s3__list "$1") || return 1
    [ -z "$out" ] || printf '%s\n' "$out"
    return 0
  fi
  out=$(S3_LIMIT=$S3_SHORT_T s3_cli s3api list-objects-v2 --bucket "$BUCKET" --prefix "$1" --query 'Contents[].[Key,Size]' --output text) || return 1
  printf '%s\n' "$out" | grep -v '^None$' || true
}
