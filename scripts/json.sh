# Sourced by scripts/demo (and read by the suite's test of it): takes fields out of the service's
# JSON answers with the shell alone, as a fresh Debian machine has no JSON tool.

# Prints the string field $2 of the JSON object $1 at its top level: nested objects (entries,
# drift, error, spec) are left out first, so their fields of the same name do not count (and the
# object's own keys are unique). Prints nothing, and succeeds, when there is no such string field.
json_top_field() {
  local body=$1 previous=""
  body=${body#*\{}
  body=${body%\}*}
  while [ "$body" != "$previous" ]; do
    previous=$body
    body=$(sed 's/{[^{}]*}//g' <<<"$body")
  done
  sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" <<<"$body"
}
