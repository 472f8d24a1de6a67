#!/usr/bin/env bash
# validate.sh: the security and lint gate over the generated templates.
# See `./validate.sh --help` and README.md#security-posture.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: ./validate.sh [options] [DIR|TEMPLATE ...]

Runs the whole gate over templates/** (or the given directories/templates):
  cfn-lint   (.cfnlintrc, project rules in cfnlint_rules/, I3011/I3013 on)
  checkov    (.checkov.yaml: cloudformation + secrets, hard fail, no skip-check)
  cfn-guard  (AWS Control Tower rules + guard/*.guard, allow-list guard/allowlist.yaml)
  reasons    (every suppression carries a reason)
and prints one summary table per tool. SARIF goes to reports/. A tool whose
inputs (the templates, its version, its rules and config, the allow-lists) did
not change since the last run answers from .cache/gate (see generator/gatecache.py).

When AWS credentials or --endpoint-url are present, it then runs
CloudFormation's ValidateTemplate on every template (and, with --bucket, on the
packaged root stacks), all in one process (generator/deploy/validate_templates.py,
boto3: the AWS CLI took about a second to start per template). A template over the
51,200-byte TemplateBody
limit is uploaded to the artifact bucket (--bucket, or the one deploy.sh uses,
created if missing) and validated by --template-url, as deploy.sh deploys it.
Otherwise that step is skipped.

Nothing is installed here: run `make gate-tools` (or `make validate`) first.

Options:
  --endpoint-url URL  AWS endpoint for validate-template (e.g. a local emulator);
                      passed explicitly on every aws call
  --region REGION     region for validate-template (default: $AWS_REGION, us-east-1)
  --bucket BUCKET     package each root stack (main.yaml, and on a platform split
                      into several roots every main-services-N.yaml it lists) with
                      `aws cloudformation package` into BUCKET and validate the
                      packaged template too; also where templates over 51,200
                      bytes are uploaded
  --no-remote         skip validate-template even when credentials exist
  --tools LIST        comma-separated subset of cfn-lint,checkov,cfn-guard,reasons
  --reports DIR       where SARIF and gate-summary.json go (default: reports)
  --no-cache          run every scanner again, ignoring .cache/gate
  -v, --verbose       also list the suppressed findings with their reasons
  -h, --help          show this help

Exit codes: 0 clean, 1 findings (or a scanner failed), 2 usage.
EOF
}

die_usage() {
  echo "validate.sh: $*" >&2
  echo "Try './validate.sh --help'." >&2
  exit 2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PY:-.venv/bin/python}
ENDPOINT_URL=""
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
BUCKET=""
REMOTE=auto
TOOLS=""
REPORTS=reports
VERBOSE=()
NO_CACHE=()
TARGETS=()

while (($#)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --endpoint-url) [[ $# -ge 2 && -n $2 ]] || die_usage "--endpoint-url needs a URL"; ENDPOINT_URL=$2; shift 2 ;;
    --endpoint-url=*) ENDPOINT_URL=${1#*=}; shift ;;
    --region) [[ $# -ge 2 && -n $2 ]] || die_usage "--region needs a value"; REGION=$2; shift 2 ;;
    --region=*) REGION=${1#*=}; shift ;;
    --bucket) [[ $# -ge 2 && -n $2 ]] || die_usage "--bucket needs a name"; BUCKET=$2; shift 2 ;;
    --bucket=*) BUCKET=${1#*=}; shift ;;
    --no-remote) REMOTE=no; shift ;;
    --tools) [[ $# -ge 2 && -n $2 ]] || die_usage "--tools needs a list"; TOOLS=$2; shift 2 ;;
    --tools=*) TOOLS=${1#*=}; shift ;;
    --reports) [[ $# -ge 2 ]] || die_usage "--reports needs a directory"; REPORTS=$2; shift 2 ;;
    --reports=*) REPORTS=${1#*=}; shift ;;
    -v | --verbose) VERBOSE=(--verbose); shift ;;
    --no-cache) NO_CACHE=(--no-cache); shift ;;
    --) shift; TARGETS+=("$@"); break ;;
    -*) die_usage "unknown option: $1" ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done

# Targets are taken relative to the caller's directory; the gate runs from the repo root.
resolved=()
for target in "${TARGETS[@]}"; do
  [[ -e $target ]] || die_usage "no such file or directory: $target"
  resolved+=("$(realpath "$target")")
done
cd "$ROOT"
if ((${#resolved[@]})); then TARGETS=("${resolved[@]}"); else TARGETS=(templates); fi
[[ -e ${TARGETS[0]} ]] || die_usage "no templates/ directory: generate templates first (make templates)"
if [[ -n $ENDPOINT_URL && ! $ENDPOINT_URL =~ ^https?:// ]]; then
  die_usage "--endpoint-url must be an http(s) URL, got: $ENDPOINT_URL"
fi
[[ -x $PY ]] || die_usage "$PY not found: run 'make venv' (or 'make gate-tools') first"

# ---------------------------------------------------------------- scanners
gate_args=("${TARGETS[@]}" --reports "$REPORTS" "${VERBOSE[@]}" "${NO_CACHE[@]}")
if [[ -n $TOOLS ]]; then gate_args+=(--tools "$TOOLS"); fi
status=0
"$PY" -m generator.gatecache "${gate_args[@]}" || status=$?
if ((status == 2)); then
  exit 2
fi

# ------------------------------------------------- aws validate-template
have_credentials() {
  [[ -n ${AWS_ACCESS_KEY_ID:-} || -n ${AWS_PROFILE:-} || -n ${AWS_WEB_IDENTITY_TOKEN_FILE:-} \
    || -n ${AWS_CONTAINER_CREDENTIALS_FULL_URI:-} || -n ${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-} \
    || -s ${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials} ]]
}

find_aws() {
  if command -v aws >/dev/null 2>&1; then
    command -v aws
  elif [[ -x .venv/bin/aws ]]; then
    echo .venv/bin/aws
  else
    return 1
  fi
}

if [[ $REMOTE == no ]]; then
  echo "validate-template: skipped (--no-remote)"
elif [[ -z $ENDPOINT_URL ]] && ! have_credentials; then
  echo "validate-template: skipped (no AWS credentials and no --endpoint-url)"
else
  AWS=$(find_aws) || die_usage "aws CLI not found (expected on PATH or .venv/bin/aws): run 'make venv'"
  aws_args=(--region "$REGION" --output text)
  if [[ -n $ENDPOINT_URL ]]; then
    aws_args+=(--endpoint-url "$ENDPOINT_URL")
    # `aws cloudformation package` (CLI v1) ignores --endpoint-url for its S3 uploads (as
    # deploy.sh notes in generator/deploy/lib.sh): without these it uploads to AWS itself.
    export AWS_ENDPOINT_URL="$ENDPOINT_URL" AWS_ENDPOINT_URL_S3="$ENDPOINT_URL"
  fi
  mapfile -t templates < <("$PY" -m generator.gate templates "${TARGETS[@]}")
  declare -A is_root=()   # with --bucket: every root stack of a (split) platform is packaged
  if [[ -n $BUCKET ]]; then
    mapfile -t root_templates < <("$PY" -m generator.gate roots "${TARGETS[@]}")
    for template in "${root_templates[@]}"; do is_root[$template]=1; done
  fi
  remote_failed=0
  workdir=$(mktemp -d)
  trap 'rm -rf "$workdir"' EXIT
  to_check=()   # each template, and after a root its packaged copy
  for template in "${templates[@]}"; do
    to_check+=("$template")
    if [[ -n ${is_root[$template]:-} ]]; then
      packaged="$workdir/$(basename "$(dirname "$template")")-$(basename "$template" .yaml)-packaged.yaml"
      if "$AWS" "${aws_args[@]}" cloudformation package --template-file "$template" \
        --s3-bucket "$BUCKET" --s3-prefix "validate/$(basename "$(dirname "$template")")" \
        --output-template-file "$packaged" >/dev/null; then
        to_check+=("$packaged")
      else
        echo "validate-template: FAIL packaging $template" >&2
        remote_failed=1
      fi
    fi
  done
  # One process validates them all (over the TemplateBody quota: from S3, as deploy.sh deploys).
  py_aws=(--region "$REGION")
  if [[ -n $ENDPOINT_URL ]]; then py_aws+=(--endpoint-url "$ENDPOINT_URL"); fi
  if ((${#to_check[@]})); then
    "$PY" -m generator.deploy.validate_templates ${BUCKET:+--bucket "$BUCKET"} "${py_aws[@]}" "${to_check[@]}" \
      || remote_failed=1
  fi
  ((remote_failed == 0)) || status=1
fi

exit "$status"
