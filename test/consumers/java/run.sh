#!/usr/bin/env bash
# Java consumer: checks that the built jar (dist/java, a Maven repository) carries the handler
# bundle, builds ConsumerApp with Maven against it and aws-cdk-lib/constructs from Maven Central at
# the versions its POM declares, synthesizes and runs the shared checker (../check-template.cjs).
#
# Needs only java 17 (JDK), mvn and node. Maven's output is shown only when the build fails. No
# esbuild, Docker or TypeScript source is used: a tripwire `docker`/`esbuild` on PATH fails the run
# if the synth calls either.
#
# Environment:
#   CONSUMER_MAVEN_ARGS  extra arguments for mvn, e.g. -Dmaven.repo.local=/path/to/repo
set -Eeuo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
consumer=java
# shellcheck source=../lib.sh
source "$here/../lib.sh"
artifact_dir="$root/dist/java/io/github/cdkfleetjanitor/cdk-fleet-janitor"

step="find the package in dist/java"
shopt -s nullglob
versions=("$artifact_dir"/*/)
if [ "${#versions[@]}" -ne 1 ]; then
  log "expected exactly one version of io.github.cdkfleetjanitor:cdk-fleet-janitor in dist/java," \
    "found ${#versions[@]}; build it with: npx projen compile && npx projen package:java"
  exit 1
fi
version="$(basename "${versions[0]}")"
jar="$artifact_dir/$version/cdk-fleet-janitor-$version.jar"
pom="$artifact_dir/$version/cdk-fleet-janitor-$version.pom"
for f in "$jar" "$pom"; do
  [ -f "$f" ] || { log "missing ${f#"$root"/}"; exit 1; }
done
log "package: io.github.cdkfleetjanitor:cdk-fleet-janitor:$version (${jar#"$root"/})"

step="inspect the jar (handler bundle)"
jar_tool="$(command -v jar || true)"
[ -n "$jar_tool" ] || jar_tool="$(dirname "$(readlink -f "$(command -v javac)")")/jar"
tgz="$("$jar_tool" tf "$jar" | grep -E '^io/github/cdkfleetjanitor/[^/]+\.jsii\.tgz$' || true)"
if [ "$(printf '%s' "$tgz" | grep -c .)" -ne 1 ]; then
  log "expected one io/github/cdkfleetjanitor/*.jsii.tgz in the jar, found: ${tgz:-none}"
  exit 1
fi
mkdir -p "$tmp/jar"
(cd "$tmp/jar" && "$jar_tool" xf "$jar" "$tgz")
check_bundle_in_tarball "$tmp/jar/$tgz" "$tgz (in the jar)"

step="read dependency versions from the built POM"
# Prints "groupId:artifactId version" for each dependency of the POM.
deps="$(node -e '
  const pom = require("fs").readFileSync(process.argv[1], "utf8");
  for (const [, d] of pom.matchAll(/<dependency>([\s\S]*?)<\/dependency>/g)) {
    const get = (tag) => (d.match(new RegExp(`<${tag}>\\s*([^<]*?)\\s*</${tag}>`)) || [])[1];
    console.log(`${get("groupId")}:${get("artifactId")} ${get("version")}`);
  }' "$pom")"
dep_version() { awk -v ga="$1" '$1 == ga { print $2 }' <<<"$deps"; }
cdk_version="$(dep_version software.amazon.awscdk:aws-cdk-lib)"
constructs_version="$(dep_version software.constructs:constructs)"
if [ -z "$cdk_version" ] || [ -z "$constructs_version" ]; then
  log "the POM declares no version for aws-cdk-lib or constructs:"; echo "$deps"
  exit 1
fi
log "POM declares: aws-cdk-lib $cdk_version, constructs $constructs_version," \
  "jsii-runtime $(dep_version software.amazon.jsii:jsii-runtime)"

step="mvn compile (ConsumerApp against dist/java and Maven Central)"
# The cached copy of the package is purged first: Maven never re-fetches a release version it has
# in its local repository, so a rebuilt dist/java would otherwise be ignored.
# shellcheck disable=SC2086
quiet mvn mvn -B -ntp -Dstyle.color=never -f "$here/pom.xml" ${CONSUMER_MAVEN_ARGS:-} \
  -Dcdk-fleet-janitor.version="$version" \
  -Daws-cdk-lib.version="$cdk_version" \
  -Dconstructs.version="$constructs_version" \
  dependency:purge-local-repository -DmanualInclude=io.github.cdkfleetjanitor:cdk-fleet-janitor -DreResolve=false \
  compile \
  dependency:build-classpath -Dmdep.outputFile="$tmp/classpath.txt"

step="check the resolved classpath"
classpath="$(cat "$tmp/classpath.txt")"
resolved() { tr ':' '\n' <<<"$classpath" | grep -E "/$1-[^/]+\\.jar\$" | head -1; }
resolved_jar="$(resolved cdk-fleet-janitor)"
if [ -z "$resolved_jar" ] || ! cmp -s "$resolved_jar" "$jar"; then
  log "the classpath's cdk-fleet-janitor jar (${resolved_jar:-none}) is not the one in dist/java"
  exit 1
fi
jar_version() { local j; j="$(resolved "$1")"; j="${j##*/"$1"-}"; echo "${j%.jar}"; }
log "resolved: cdk-fleet-janitor $version (same bytes as dist/java), aws-cdk-lib $(jar_version aws-cdk-lib)," \
  "constructs $(jar_version constructs), jsii-runtime $(jar_version jsii-runtime)"

step="synthesize ConsumerApp"
synth_without_tools java -cp "$here/target/classes:$classpath" \
  io.github.cdkfleetjanitor.consumer.ConsumerApp "$outdir"

run_checker
