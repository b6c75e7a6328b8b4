#!/usr/bin/env bash
# The GitHub Action's step (action.yml): submits a list to a manifold service with the job's own
# OIDC ID token and waits for it to land. `manifold submit` fetches the token itself from
# ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN (GitHub sets them for a job with `permissions: id-token:
# write`) for MANIFOLD_AUDIENCE; MANIFOLD_TOKEN, when set, is sent instead.
#
# Reads: MANIFOLD_BIN (the binary; default `manifold` on PATH), MANIFOLD_SERVER, and the action's
# inputs as INPUT_SPEC, or INPUT_TARGET + INPUT_TEMPLATE + INPUT_PLATFORMS; INPUT_TAGS,
# INPUT_TYPE, INPUT_EXPECT, INPUT_RELEASE, INPUT_DEADLINE_SECS (each passed only when not empty).
# Writes `digest` and `size` to GITHUB_OUTPUT. Never prints a token.
set -euo pipefail

bin="${MANIFOLD_BIN:-manifold}"
if [[ -z "${MANIFOLD_SERVER:-}" ]]; then
  echo "::error::the input server (MANIFOLD_SERVER) is empty" >&2
  exit 2
fi

args=(submit)
if [[ -n "${INPUT_TYPE:-}" ]]; then args+=(--type "$INPUT_TYPE"); fi
for platform in ${INPUT_EXPECT//,/ }; do args+=(--expect "$platform"); done
if [[ -n "${INPUT_RELEASE:-}" ]]; then args+=(--release "$INPUT_RELEASE"); fi
if [[ -n "${INPUT_DEADLINE_SECS:-}" ]]; then args+=(--deadline-secs "$INPUT_DEADLINE_SECS"); fi

if [[ -n "${INPUT_SPEC:-}" ]]; then
  args+=(from-spec "$INPUT_SPEC")
elif [[ -n "${INPUT_TARGET:-}" && -n "${INPUT_TEMPLATE:-}" && -n "${INPUT_PLATFORMS:-}" ]]; then
  args+=(from-args --target "$INPUT_TARGET" --template "$INPUT_TEMPLATE" --platforms "$INPUT_PLATFORMS")
  if [[ -n "${INPUT_TAGS:-}" ]]; then args+=(--tags "$INPUT_TAGS"); fi
else
  echo "::error::give the input \`spec\`, or \`target\`, \`template\` and \`platforms\`" >&2
  exit 2
fi

if [[ -z "${MANIFOLD_TOKEN:-}" && -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ]]; then
  echo "::warning::no ID token to send: give the job \`permissions: id-token: write\`" >&2
fi

out="$("$bin" "${args[@]}")"
printf '%s\n' "$out"
read -r _ digest size <<<"$(grep -m1 '^Digest: ' <<<"$out")"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf 'digest=%s\nsize=%s\n' "$digest" "$size" >>"$GITHUB_OUTPUT"
fi
