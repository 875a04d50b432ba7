# Shared by every consumer's run.sh: sourced after setting `consumer` (the language name).
# Gives $root, $tmp, $outdir, $step, log, quiet, synth_without_tools and run_checker; on failure
# the exit trap names the language and the step that failed.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/consumer-$consumer.XXXXXX")"
outdir="$tmp/cdk.out"
step="setup"

log() { echo "[$consumer] $*"; }
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    log "FAIL step: $step (exit $rc); work dir kept: $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap on_exit EXIT

# Runs a command with its output in $tmp/<name>.log, shown only when it fails.
quiet() {
  local name="$1"; shift
  if ! "$@" >"$tmp/$name.log" 2>&1; then
    awk '{ gsub(/\033\[[0-9;]*m/, ""); print "    " $0 }' "$tmp/$name.log"
    return 1
  fi
}

# Runs the synth command from $tmp with tripwire `docker` and `esbuild` first on PATH: the synth
# must need neither (the handler is pre-bundled in the package), so calling one fails the run.
synth_without_tools() {
  mkdir -p "$tmp/tripwire"
  local tool
  for tool in docker esbuild; do
    printf '#!/bin/sh\necho "%s was called: $*" >>"%s"\nexit 1\n' "$tool" "$tmp/tripwire/called" >"$tmp/tripwire/$tool"
    chmod +x "$tmp/tripwire/$tool"
  done
  (cd "$tmp" && PATH="$tmp/tripwire:$PATH" "$@") | sed "s/^/[$consumer] app: /"
  if [ -s "$tmp/tripwire/called" ]; then
    cat "$tmp/tripwire/called"
    return 1
  fi
}

run_checker() {
  step="check the template (check-template.cjs)"
  node "$root/test/consumers/check-template.cjs" "$consumer" "$outdir"
}

# Every language's package embeds the npm tarball jsii built; each handler bundle must be in it and
# no TypeScript source may be. Usage: check_bundle_in_tarball <tgz file> <how it is named in the package>
BUNDLES_IN_TARBALL=("package/assets/packer-cleaner/index.js" "package/assets/ami-manager/index.js"
  "package/assets/tag-policy-engine/index.js" "package/assets/instance-decommissioner/index.js"
  "package/assets/ecs-instance-drainer/index.js" "package/assets/image-retention/index.js")
check_bundle_in_tarball() {
  local tgz="$1" label="$2" listing size bundle
  listing="$(tar -tvzf "$tgz")"
  for bundle in "${BUNDLES_IN_TARBALL[@]}"; do
    size="$(awk -v f="$bundle" '$NF == f { print $3 }' <<<"$listing")"
    if [ -z "$size" ]; then
      log "$label has no $bundle"
      return 1
    fi
    log "package embeds $label with $bundle ($size bytes)"
  done
  if grep -E ' package/assets/.*\.ts$' <<<"$listing"; then
    log "TypeScript source in the packaged assets (above)"
    return 1
  fi
}
