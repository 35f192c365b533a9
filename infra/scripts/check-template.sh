#!/usr/bin/env bash
# Usage: check-template.sh [OUTPUT_JSON]
# Runs over template.yaml the tools a SAM user runs: cfn-lint with the
# informational rules on (what `sam validate --lint` runs; any finding
# fails), then the SAM transform (aws-sam-translator, as `sam deploy` runs
# it, CodeUri pointed at S3 as `sam package` does) into CloudFormation JSON,
# by default .build/sam/template.json. A missing tool fails; nothing is
# skipped, whatever CI says.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

out="${1:-.build/sam/template.json}"
py="${PYTHON:-python3}"
install="pip install cfn-lint aws-sam-translator"

die() { echo "check-template: $*" >&2; exit 1; }

command -v "$py" >/dev/null 2>&1 || die "$py is missing (Python 3.9+), then: $install"
command -v cfn-lint >/dev/null 2>&1 || die "cfn-lint is missing: $install"
"$py" -c 'import samtranslator' 2>/dev/null || die "aws-sam-translator is missing for $py: $install"

echo "cfn-lint $(cfn-lint --version | awk '{print $2}') --include-checks I template.yaml"
if ! findings="$(cfn-lint --include-checks I -- template.yaml 2>&1)" || [[ -n "$findings" ]]; then
	echo "$findings" >&2
	die "cfn-lint found problems in template.yaml"
fi

echo "aws-sam-translator $("$py" -c 'import samtranslator; print(samtranslator.__version__)'): template.yaml -> $out"
"$py" infra/scripts/sam-transform.py template.yaml "$out"
