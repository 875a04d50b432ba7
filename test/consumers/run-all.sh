#!/usr/bin/env bash
# Runs every language's consumer app against the packages in dist/ (built by `package-all`) and
# reports per language. Each language's run.sh synthesizes the same stack and runs
# check-template.cjs on it; nag3/run.sh runs the cdk-nag 3 rule packs on the npm package (dist/js).
set -uo pipefail
cd "$(dirname "$0")"
languages=("${@:-python java go nag3}")
read -r -a languages <<< "${languages[*]}"
failed=()
for lang in "${languages[@]}"; do
  echo "=== consumer: $lang ==="
  start=$(date +%s)
  if bash "$lang/run.sh"; then
    echo "=== consumer: $lang PASSED in $(( $(date +%s) - start ))s ==="
  else
    echo "=== consumer: $lang FAILED in $(( $(date +%s) - start ))s (see the [$lang] lines above) ==="
    failed+=("$lang")
  fi
done
passed=$(( ${#languages[@]} - ${#failed[@]} ))
echo "consumers: ${passed} passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
