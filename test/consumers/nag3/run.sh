#!/usr/bin/env bash
# cdk-nag 3 consumer: installs the npm tarball jsii built (dist/js) in a scratch project with
# aws-cdk-lib, constructs and cdk-nag 3 from the npm registry, and runs app.js: each construct
# configuration listed there is synthesized with the five cdk-nag 3 packs registered the v3 way
# (Validations.of(app).addPlugins(...)), and every finding on our resources that no acknowledgement
# covers is printed per configuration and pack. Any such finding fails the run, and so does a
# canary stack on which the packs report nothing (the check must be able to fail).
#
# Needs only node and npm (registry access). No TypeScript, esbuild or Docker: a tripwire
# `docker`/`esbuild` on PATH fails the run if the synth calls either.
#
# Environment:
#   NAG3_CDK_VERSION=2.276.0   aws-cdk-lib to install. Pinned rather than resolved at run time
#                              (`npm view 'aws-cdk-lib@^2.257.0' version`): a new aws-cdk-lib release
#                              must not change this check's result without a commit here; bump it
#                              on purpose. Not below 2.258.0: 2.257.0 does not give validation
#                              plugins the construct tree, and cdk-nag 3 fails there ("NagPack
#                              requires a construct tree on the validation context").
#   NAG3_CDK_NAG_VERSION=3.0.2 cdk-nag to install (3.x: the validation-plugin API)
set -Eeuo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
consumer=nag3
# shellcheck source=../lib.sh
source "$here/../lib.sh"
cdk_version="${NAG3_CDK_VERSION:-2.276.0}"
nag_version="${NAG3_CDK_NAG_VERSION:-3.0.2}"

step="find the tarball in dist/js"
shopt -s nullglob
tarballs=("$root"/dist/js/cdk-fleet-janitor@*.jsii.tgz)
if [ "${#tarballs[@]}" -ne 1 ]; then
  log "expected exactly one dist/js/cdk-fleet-janitor@*.jsii.tgz, found ${#tarballs[@]};" \
    "build it with: npx projen compile && npx projen package:js"
  exit 1
fi
tarball="${tarballs[0]}"
log "tarball: ${tarball#"$root"/}"
check_bundle_in_tarball "$tarball" "${tarball#"$root"/}"

step="npm install the tarball, aws-cdk-lib $cdk_version, constructs and cdk-nag $nag_version"
# constructs: the newest in the range the tarball declares as its peer.
constructs_range="$(tar -xzOf "$tarball" package/package.json | node -e \
  'let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => console.log(JSON.parse(s).peerDependencies.constructs))')"
cp "$here/app.js" "$tmp/app.js"
echo '{ "name": "nag3-consumer", "private": true }' >"$tmp/package.json"
(cd "$tmp" && quiet npm-install npm install --no-audit --no-fund --loglevel=error \
  "$tarball" "aws-cdk-lib@$cdk_version" "constructs@$constructs_range" "cdk-nag@$nag_version")

step="report installed versions"
(cd "$tmp" && node -e '
  const names = ["cdk-fleet-janitor", "aws-cdk-lib", "constructs", "cdk-nag"];
  console.log("[nag3] installed: " + names.map((n) => `${n} ${require(`${n}/package.json`).version}`).join(", "));
')

step="synthesize every configuration with the cdk-nag 3 packs (app.js)"
synth_without_tools node "$tmp/app.js" "$tmp"
