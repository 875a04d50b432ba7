#!/usr/bin/env bash
# Python consumer: checks that the built wheel (dist/python) carries the handler bundle, installs it
# in a virtualenv with aws-cdk-lib and constructs from PyPI at the versions the wheel declares,
# synthesizes app.py and runs the shared checker (../check-template.cjs) on the cloud assembly.
#
# Needs only python3 (with venv) and node. No esbuild, Docker or TypeScript source is used: a
# tripwire `docker`/`esbuild` on PATH fails the run if the synth calls either.
#
# Environment:
#   PYTHON_CDK_VERSIONS=minimum (default)  aws-cdk-lib/constructs == the lower bounds in Requires-Dist
#                       range              the Requires-Dist ranges as written (pip picks the newest)
#   CONSUMER_FRESH=1    recreate .venv even if the wheel and requirements are unchanged
#   PYTHON=python3      interpreter used to create the virtualenv
set -Eeuo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
consumer=python
# shellcheck source=../lib.sh
source "$here/../lib.sh"
venv="$here/.venv"
py="${PYTHON:-python3}"
mode="${PYTHON_CDK_VERSIONS:-minimum}"

step="find the wheel in dist/python"
shopt -s nullglob
wheels=("$root"/dist/python/cdk_fleet_janitor-*.whl)
if [ "${#wheels[@]}" -ne 1 ]; then
  log "expected exactly one dist/python/cdk_fleet_janitor-*.whl, found ${#wheels[@]};" \
    "build it with: npx projen compile && npx projen package:python"
  exit 1
fi
wheel="${wheels[0]}"
log "wheel: ${wheel#"$root"/}"

step="inspect the wheel (handler bundle, Requires-Dist)"
# Extracts the embedded jsii tarball to $tmp/wheel-jsii.tgz (its name in the wheel to
# $tmp/wheel-jsii.name); writes the pip requirements for aws-cdk-lib and constructs to $tmp/requirements.txt.
"$py" - "$wheel" "$mode" "$tmp/requirements.txt" "$tmp/wheel-jsii" <<'PY'
import re, sys, zipfile

wheel, mode, out, jsii_out = sys.argv[1:5]
with zipfile.ZipFile(wheel) as z:
    tgzs = [n for n in z.namelist() if re.fullmatch(r"cdk_fleet_janitor/_jsii/[^/]+\.tgz", n)]
    if len(tgzs) != 1:
        sys.exit(f"expected one cdk_fleet_janitor/_jsii/*.tgz in the wheel, found {tgzs}")
    with open(jsii_out + ".tgz", "wb") as f:
        f.write(z.read(tgzs[0]))
    with open(jsii_out + ".name", "w") as f:
        f.write(tgzs[0])
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    requires = [l.split(":", 1)[1].strip() for l in z.read(meta).decode().splitlines() if l.startswith("Requires-Dist:")]

wanted = {"aws-cdk-lib": None, "constructs": None}
for req in requires:
    m = re.match(r"([A-Za-z0-9_.-]+)\s*\(?([^;)]*)\)?", req)
    name = m.group(1).lower().replace("_", "-")
    if name in wanted:
        wanted[name] = m.group(2).replace(" ", "")
print(f"[python] wheel Requires-Dist: {'; '.join(requires)}")
lines = []
for name, spec in wanted.items():
    if spec is None:
        sys.exit(f"the wheel declares no Requires-Dist for {name}")
    if mode == "range":
        lines.append(f"{name}{spec}")
    elif mode == "minimum":
        low = re.search(r">=([0-9][^,]*)", spec)
        if not low:
            sys.exit(f"no lower bound (>=) for {name} in {spec!r}")
        lines.append(f"{name}=={low.group(1)}")
    else:
        sys.exit(f"PYTHON_CDK_VERSIONS must be 'minimum' or 'range', not {mode!r}")
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"[python] installing ({mode}): {' '.join(lines)}")
PY
check_bundle_in_tarball "$tmp/wheel-jsii.tgz" "$(cat "$tmp/wheel-jsii.name") (in the wheel)"

step="create the virtualenv"
# Reused only when the wheel, the requirements and the interpreter are the same as last time.
stamp="$( { sha256sum "$wheel" | cut -d' ' -f1; cat "$tmp/requirements.txt"; "$py" -VV; } | sha256sum | cut -d' ' -f1)"
if [ "${CONSUMER_FRESH:-0}" != "1" ] && [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.consumer-stamp" 2>/dev/null)" = "$stamp" ]; then
  log "virtualenv: reusing ${venv#"$root"/} (same wheel and requirements)"
else
  rm -rf "$venv"
  quiet venv "$py" -m venv "$venv"
  step="pip install the wheel, aws-cdk-lib and constructs"
  quiet pip "$venv/bin/python" -m pip install --disable-pip-version-check --no-input \
    "$wheel" -r "$tmp/requirements.txt"
  echo "$stamp" >"$venv/.consumer-stamp"
  log "virtualenv: created ${venv#"$root"/}"
fi

step="report installed versions"
"$venv/bin/python" - <<'PY'
from importlib.metadata import version
names = ["cdk-fleet-janitor", "aws-cdk-lib", "constructs", "jsii"]
print("[python] installed: " + ", ".join(f"{n} {version(n)}" for n in names))
PY

step="synthesize app.py"
synth_without_tools "$venv/bin/python" "$here/app.py" "$outdir"

run_checker
