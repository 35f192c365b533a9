#!/usr/bin/env python3
"""Transform a SAM template into the CloudFormation JSON that `sam deploy`
would submit, with aws-sam-translator (the library sam validate, sam build and
sam deploy use; CloudFormation runs the same transform server-side).

Usage: sam-transform.py TEMPLATE OUTPUT_JSON

As `sam package` does, every local CodeUri is replaced by an S3 URI before
the transform (the translator refuses local paths). Managed policy names
resolve against an empty map: the template uses inline statements only, and
an unknown managed policy name then fails the transform instead of asking
IAM.
"""
import json
import os
import sys

try:
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.yaml_helper import yaml_parse
except ImportError as e:  # the caller's shell script says how to install
    sys.exit(f"sam-transform: aws-sam-translator is not installed ({e}): pip install cfn-lint aws-sam-translator")

# What `sam package` uploads to; the bucket is never contacted.
PACKAGE_BUCKET = "sam-package-bucket"


def package(template):
    """Point local CodeUris at S3 like `sam package`."""
    for logical_id, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.setdefault("Properties", {})
        uri = props.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["CodeUri"] = f"s3://{PACKAGE_BUCKET}/{logical_id}.zip"


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: sam-transform.py TEMPLATE OUTPUT_JSON")
    src, dst = argv[1], argv[2]
    # The translator builds ARNs for this region's partition.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(src, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    package(template)
    try:
        out = Translator(managed_policy_map={}, sam_parser=Parser()).translate(
            sam_template=template, parameter_values={}
        )
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"sam-transform: {src}: {cause.message}", file=sys.stderr)
        sys.exit(1)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = dst + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, dst)


if __name__ == "__main__":
    main(sys.argv)
