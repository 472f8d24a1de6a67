#!/usr/bin/env bash
# Keycloak realm initialisation for a deployed mcp-gateway platform.
#
# What it configures follows upstream's terraform/aws-ecs/scripts/init-keycloak.sh
# (agentic-community/mcp-gateway-registry): the mcp-gateway realm, the mcp-gateway-web
# and mcp-gateway-m2m OpenID Connect clients, the groups the registry's scopes map to, a
# "groups" token mapper on both clients, the four MCP server scopes as default scopes of
# the M2M client, and the M2M service account in the mcp-servers-unrestricted and
# a2a-agent-admin groups. Optionally the realm user "admin" in the admin groups.
#
# One difference: upstream lets Keycloak generate the client secrets and writes them
# into Secrets Manager afterwards (the tasks then hold stale values until they restart).
# Here the secrets the stack generated (keycloak-client-secret, keycloak-m2m-client-secret,
# JSON key client_secret) are given to Keycloak, so the running tasks are already right.
#
# Every step creates what is missing and updates what exists: running it twice is safe.
# Secrets are passed to curl through files in a private temporary directory, never on a
# command line, and are never printed.
#
# Exit status: 0 configured, 1 a step failed, 2 usage error.
set -euo pipefail

PROG=$(basename "$0")
STACK=""
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
KEYCLOAK_URL=""
REGISTRY_URL=""
AUTH_URL=""
REALM="mcp-gateway"
ADMIN_USER="${KEYCLOAK_ADMIN:-}"
REALM_ADMIN=0
WAIT_SECONDS=300

GROUPS_LIST="mcp-registry-admin mcp-registry-user mcp-registry-developer mcp-registry-operator
mcp-servers-unrestricted mcp-servers-restricted a2a-agent-admin a2a-agent-publisher a2a-agent-user
registry-admins registry-users-lob1 registry-users-lob2"
SCOPES_LIST="mcp-servers-unrestricted/read mcp-servers-unrestricted/execute mcp-servers-restricted/read
mcp-servers-restricted/execute"
M2M_GROUPS="mcp-servers-unrestricted a2a-agent-admin"
REALM_ADMIN_GROUPS="mcp-registry-admin mcp-servers-unrestricted registry-admins"

usage() {
  cat <<EOF
Usage: $PROG --stack NAME [options]

Initialise Keycloak for the mcp-gateway platform deployed as stack NAME: the
$REALM realm, the mcp-gateway-web and mcp-gateway-m2m clients (with the client
secrets the stack generated), groups, the groups token mapper, the MCP scopes and the
M2M service account. Safe to run again: it creates what is missing, updates what exists.

Run it after Keycloak is up (its image pushed and KeycloakImageReady=true deployed):
docs/platforms-post-deploy.md has the whole sequence.

Options:
  --stack NAME          the root stack (deploy.sh's --stack-name; default <platform>-<env>)
  --region REGION       AWS region (default: \$AWS_REGION, \$AWS_DEFAULT_REGION)
  --keycloak-url URL    Keycloak's base URL (default: the stack output KeycloakLoadBalancerUrl)
  --registry-url URL    the registry's URL (default: the stack output MainLoadBalancerUrl)
  --auth-url URL        the auth server's external URL (default: REGISTRY_URL:8888)
  --admin-user NAME     Keycloak's master-realm admin (default: \$KEYCLOAK_ADMIN, else the
                        stack's keycloak-admin SSM parameter)
  --realm-admin         also create or update the realm user "admin" (groups:
                        $REALM_ADMIN_GROUPS); its password comes from
                        \$INITIAL_ADMIN_PASSWORD or a prompt
  --wait SECONDS        how long to wait for Keycloak to answer (default: $WAIT_SECONDS)
  -h, --help            show this help

The master-realm admin password comes from \$KEYCLOAK_ADMIN_PASSWORD, else from the
stack's keycloak-admin-password secret (Secrets Manager), else a prompt.
Needs: aws (CLI), curl, jq.

Exit status: 0 configured, 1 a step failed, 2 usage error.
EOF
}

die_usage() { echo "$PROG: $*" >&2; echo "Try '$PROG --help'." >&2; exit 2; }
die() { echo "$PROG: $*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }
need_value() { [ -n "${2:-}" ] || die_usage "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --stack) need_value "$1" "${2:-}"; STACK="$2"; shift 2 ;;
    --region) need_value "$1" "${2:-}"; REGION="$2"; shift 2 ;;
    --keycloak-url) need_value "$1" "${2:-}"; KEYCLOAK_URL="$2"; shift 2 ;;
    --registry-url) need_value "$1" "${2:-}"; REGISTRY_URL="$2"; shift 2 ;;
    --auth-url) need_value "$1" "${2:-}"; AUTH_URL="$2"; shift 2 ;;
    --admin-user) need_value "$1" "${2:-}"; ADMIN_USER="$2"; shift 2 ;;
    --realm-admin) REALM_ADMIN=1; shift ;;
    --wait) need_value "$1" "${2:-}"; WAIT_SECONDS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown option: $1" ;;
  esac
done
[ -n "$STACK" ] || die_usage "--stack is required"
case "$WAIT_SECONDS" in ''|*[!0-9]*) die_usage "--wait takes a number of seconds" ;; esac
for tool in aws curl jq; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

WORK=$(mktemp -d)
chmod 700 "$WORK"
trap 'rm -rf "$WORK"' EXIT

AWS=(aws)
[ -n "$REGION" ] && AWS+=(--region "$REGION")

# ---- what the stack knows ------------------------------------------------------------

output() {
  "${AWS[@]}" cloudformation describe-stacks --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text
}

# Physical ID of a resource of a nested stack of the root stack.
nested_resource() {
  local nested
  nested=$("${AWS[@]}" cloudformation describe-stack-resource --stack-name "$STACK" \
    --logical-resource-id "$1" --query StackResourceDetail.PhysicalResourceId --output text)
  "${AWS[@]}" cloudformation describe-stack-resource --stack-name "$nested" \
    --logical-resource-id "$2" --query StackResourceDetail.PhysicalResourceId --output text
}

secret_value() {
  "${AWS[@]}" secretsmanager get-secret-value --secret-id "$1" --query SecretString --output text
}

if [ -z "$KEYCLOAK_URL" ]; then KEYCLOAK_URL=$(output KeycloakLoadBalancerUrl); fi
if [ -z "$REGISTRY_URL" ]; then REGISTRY_URL=$(output MainLoadBalancerUrl); fi
for v in KEYCLOAK_URL REGISTRY_URL; do
  case "${!v}" in http://*|https://*) ;; *) die "no ${v%_URL} URL (stack $STACK has no such output; give --${v%_URL})" ;; esac
done
KEYCLOAK_URL=${KEYCLOAK_URL%/}
REGISTRY_URL=${REGISTRY_URL%/}
[ -n "$AUTH_URL" ] || AUTH_URL="$REGISTRY_URL:8888"

if [ -z "$ADMIN_USER" ]; then
  ADMIN_USER=$("${AWS[@]}" ssm get-parameter --name "$(nested_resource SecretsStack KeycloakAdminParameter)" \
    --query Parameter.Value --output text)
fi
# Secrets go to files in $WORK (printf is a builtin: no command line shows them).
pw="${KEYCLOAK_ADMIN_PASSWORD:-}"
if [ -z "$pw" ]; then
  pw=$(secret_value "$(nested_resource SecretsStack KeycloakAdminPasswordSecret)" 2>/dev/null || true)
fi
if [ -z "$pw" ] && [ -t 0 ]; then
  read -r -s -p "Keycloak admin password ($ADMIN_USER): " pw; echo
fi
[ -n "$pw" ] || die "no Keycloak admin password: set KEYCLOAK_ADMIN_PASSWORD, or run it on a terminal"
printf '%s' "$pw" > "$WORK/admin-password"
for c in web m2m; do
  logical=KeycloakClientSecretSecret
  [ "$c" = m2m ] && logical=KeycloakM2mClientSecretSecret
  pw=$(secret_value "$(nested_resource SecretsStack "$logical")" | jq -er .client_secret) \
    || die "could not read the $c client secret ($logical) of stack $STACK"
  printf '%s' "$pw" > "$WORK/$c-secret"
done
if [ "$REALM_ADMIN" = 1 ]; then
  pw="${INITIAL_ADMIN_PASSWORD:-}"
  if [ -z "$pw" ] && [ -t 0 ]; then
    read -r -s -p "Password of the $REALM realm user admin: " pw; echo
  fi
  [ -n "$pw" ] || die "--realm-admin: set INITIAL_ADMIN_PASSWORD, or run it on a terminal"
  printf '%s' "$pw" > "$WORK/realm-admin-password"
fi
unset pw

say "Keycloak:  $KEYCLOAK_URL (admin $ADMIN_USER)"
say "Registry:  $REGISTRY_URL, auth server $AUTH_URL"

# ---- Keycloak's admin REST API --------------------------------------------------------

wait_for_keycloak() {
  local waited=0
  until curl -fs -o /dev/null "$KEYCLOAK_URL/realms/master"; do
    [ "$waited" -lt "$WAIT_SECONDS" ] || die "Keycloak did not answer at $KEYCLOAK_URL within $WAIT_SECONDS s"
    sleep 5
    waited=$((waited + 5))
  done
}

login() {
  jq -rjn --arg u "$ADMIN_USER" --rawfile p "$WORK/admin-password" \
    '@uri "username=\($u)&password=\($p)&grant_type=password&client_id=admin-cli"' > "$WORK/login"
  curl -fsS -X POST "$KEYCLOAK_URL/realms/master/protocol/openid-connect/token" \
    -H "Content-Type: application/x-www-form-urlencoded" --data-binary "@$WORK/login" \
    | jq -er '"Authorization: Bearer \(.access_token)"' > "$WORK/auth" \
    || die "could not log in to Keycloak as $ADMIN_USER (master realm)"
}

# api METHOD PATH [BODY-FILE]: prints the body, sets STATUS; exit 1 on a transport error.
STATUS=""
api() {
  local args=(-sS -o "$WORK/response" -w '%{http_code}' -X "$1" -H "@$WORK/auth" "$KEYCLOAK_URL/admin/realms$2")
  [ -n "${3:-}" ] && args+=(-H "Content-Type: application/json" --data-binary "@$3")
  STATUS=$(curl "${args[@]}") || die "$1 $2: no answer from Keycloak"
  case "$STATUS" in
    401|403|5??) die "$1 $2: HTTP $STATUS: $(head -c 300 "$WORK/response")" ;;
  esac
  cat "$WORK/response"
}

expect() {  # expect WHAT STATUS...: fail unless STATUS is one of them
  local what=$1 s
  shift
  for s in "$@"; do [ "$STATUS" = "$s" ] && return 0; done
  die "$what: HTTP $STATUS: $(head -c 300 "$WORK/response")"
}

ensure_realm() {
  api GET "/$REALM" > /dev/null
  if [ "$STATUS" = 200 ]; then say "realm $REALM: exists"; return; fi
  jq -n --arg r "$REALM" '{realm: $r, enabled: true, registrationAllowed: false, loginWithEmailAllowed: true,
    duplicateEmailsAllowed: false, resetPasswordAllowed: true, editUsernameAllowed: false}' > "$WORK/body"
  api POST "" "$WORK/body" > /dev/null
  expect "create realm $REALM" 201 409
  say "realm $REALM: created"
}

client_uuid() {
  api GET "/$REALM/clients?clientId=$1" | jq -r '.[0].id // empty'
}

# ensure_client CLIENT-ID SECRET-FILE JSON: create, or update in place, with the stack's secret.
ensure_client() {
  local id=$1 uuid
  jq --rawfile s "$2" '. + {secret: $s}' <<< "$3" > "$WORK/body"
  uuid=$(client_uuid "$id")
  if [ -z "$uuid" ]; then
    api POST "/$REALM/clients" "$WORK/body" > /dev/null
    expect "create client $id" 201
    say "client $id: created"
  else
    api PUT "/$REALM/clients/$uuid" "$WORK/body" > /dev/null
    expect "update client $id" 204
    say "client $id: updated"
  fi
  rm -f "$WORK/body"
}

ensure_groups_mapper() {
  local uuid
  uuid=$(client_uuid "$1")
  if api GET "/$REALM/clients/$uuid/protocol-mappers/models" | jq -e 'any(.[]; .name == "groups")' > /dev/null; then
    say "client $1: groups mapper exists"; return
  fi
  jq -n '{name: "groups", protocol: "openid-connect", protocolMapper: "oidc-group-membership-mapper",
    consentRequired: false, config: {"full.path": "false", "id.token.claim": "true",
    "access.token.claim": "true", "claim.name": "groups", "userinfo.token.claim": "true"}}' > "$WORK/body"
  api POST "/$REALM/clients/$uuid/protocol-mappers/models" "$WORK/body" > /dev/null
  expect "groups mapper of $1" 201 409
  say "client $1: groups mapper created"
}

group_id() {
  api GET "/$REALM/groups?search=$1" | jq -r --arg n "$1" '[.[] | select(.name == $n)][0].id // empty'
}

ensure_groups() {
  local g
  for g in $GROUPS_LIST; do
    [ -n "$(group_id "$g")" ] && continue
    jq -n --arg g "$g" '{name: $g, attributes: {description: ["\($g) group for MCP Gateway access"]}}' > "$WORK/body"
    api POST "/$REALM/groups" "$WORK/body" > /dev/null
    expect "create group $g" 201 409
    say "group $g: created"
  done
}

ensure_scopes() {
  local m2m s sid
  m2m=$(client_uuid mcp-gateway-m2m)
  for s in $SCOPES_LIST; do
    sid=$(api GET "/$REALM/client-scopes" | jq -r --arg s "$s" '[.[] | select(.name == $s)][0].id // empty')
    if [ -z "$sid" ]; then
      jq -n --arg s "$s" '{name: $s, description: "MCP Gateway scope for \($s) access", protocol: "openid-connect"}' \
        > "$WORK/body"
      api POST "/$REALM/client-scopes" "$WORK/body" > /dev/null
      expect "create scope $s" 201 409
      sid=$(api GET "/$REALM/client-scopes" | jq -r --arg s "$s" '[.[] | select(.name == $s)][0].id // empty')
      say "scope $s: created"
    fi
    api PUT "/$REALM/clients/$m2m/default-client-scopes/$sid" > /dev/null
    expect "default scope $s of mcp-gateway-m2m" 204
  done
  say "client mcp-gateway-m2m: default scopes set"
}

# join_groups USER-ID GROUP...: PUT is idempotent (204 when already a member).
join_groups() {
  local user=$1 g gid
  shift
  for g in "$@"; do
    gid=$(group_id "$g")
    [ -n "$gid" ] || die "group $g does not exist"
    api PUT "/$REALM/users/$user/groups/$gid" > /dev/null
    expect "add $user to $g" 204
  done
}

ensure_service_account() {
  local uuid user
  uuid=$(client_uuid mcp-gateway-m2m)
  user=$(api GET "/$REALM/clients/$uuid/service-account-user" | jq -r '.id // empty')
  [ -n "$user" ] || die "mcp-gateway-m2m has no service account user"
  # shellcheck disable=SC2086  # the group list is words on purpose
  join_groups "$user" $M2M_GROUPS
  say "service account of mcp-gateway-m2m: in $M2M_GROUPS"
}

ensure_realm_admin() {
  local user
  user=$(api GET "/$REALM/users?username=admin&exact=true" | jq -r '[.[] | select(.username == "admin")][0].id // empty')
  if [ -z "$user" ]; then
    jq -n '{username: "admin", email: "admin@example.com", enabled: true, emailVerified: true,
      firstName: "Admin", lastName: "User"}' > "$WORK/body"
    api POST "/$REALM/users" "$WORK/body" > /dev/null
    expect "create user admin" 201
    user=$(api GET "/$REALM/users?username=admin&exact=true" | jq -r '[.[] | select(.username == "admin")][0].id')
  fi
  jq -n --rawfile p "$WORK/realm-admin-password" '{type: "password", value: $p, temporary: false}' > "$WORK/body"
  api PUT "/$REALM/users/$user/reset-password" "$WORK/body" > /dev/null
  rm -f "$WORK/body"
  expect "password of user admin" 204
  # shellcheck disable=SC2086
  join_groups "$user" $REALM_ADMIN_GROUPS
  say "user admin: password set, in $REALM_ADMIN_GROUPS"
}

wait_for_keycloak
login
ensure_realm
ensure_client mcp-gateway-web "$WORK/web-secret" "$(jq -n --arg reg "$REGISTRY_URL" --arg auth "$AUTH_URL" '{
  clientId: "mcp-gateway-web", name: "MCP Gateway Web Client", enabled: true,
  clientAuthenticatorType: "client-secret", protocol: "openid-connect", publicClient: false,
  standardFlowEnabled: true, implicitFlowEnabled: false, directAccessGrantsEnabled: true,
  serviceAccountsEnabled: false,
  redirectUris: ["\($auth)/oauth2/callback/keycloak", "\($reg)/oauth2/callback/keycloak", "\($reg)/*"],
  webOrigins: [$reg, "+"]}')"
ensure_client mcp-gateway-m2m "$WORK/m2m-secret" "$(jq -n '{
  clientId: "mcp-gateway-m2m", name: "MCP Gateway M2M Client", enabled: true,
  clientAuthenticatorType: "client-secret", protocol: "openid-connect", publicClient: false,
  standardFlowEnabled: false, implicitFlowEnabled: false, directAccessGrantsEnabled: false,
  serviceAccountsEnabled: true}')"
ensure_groups
ensure_groups_mapper mcp-gateway-web
ensure_groups_mapper mcp-gateway-m2m
ensure_scopes
ensure_service_account
if [ "$REALM_ADMIN" = 1 ]; then ensure_realm_admin; fi
say "Keycloak is initialised: realm $REALM at $KEYCLOAK_URL/admin/master/console/#/$REALM"
