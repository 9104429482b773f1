#!/usr/bin/env bash
# Demo: a message through three remailers (1024-, 4096- and 2048-bit keys),
# built by 'mix send' and peeled hop by hop by 'mix packet decode' with each
# remailer's own secret key ring, as the remailers themselves would.
# Uses the keys of the Mixmaster test vectors in testdata/. All files stay in
# a scratch directory that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-bin}
keys=testdata/mixmaster/keys
work=$(mktemp -d "${TMPDIR:-/tmp}/mixgo-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

chain=(alpha delta bravo)
echo "== mix send through ${chain[*]}"
printf 'Hello from the mixgo demo.\n' |
  "$bin/mix" send --pubring testdata/mixmaster/pubring.mix --chain "$(IFS=,; echo "${chain[*]}")" \
    --to recipient@example.test --subject "demo" --out "$work/out" --verbose
input="$work/out/01.eml"
for i in "${!chain[@]}"; do
  hop=${chain[$i]}
  echo "== $hop decrypts its layer"
  "$bin/mix" packet decode --secring "$keys/$hop/secring.mix" \
    --passphrase-file "$keys/$hop/passphrase.txt" --next "$work/next-$i" < "$input"
  input="$work/next-$i"
done
echo "== delivered: the last hop holds the message above (type final)"
