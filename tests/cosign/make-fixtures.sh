#!/usr/bin/env bash
# Regenerates tests/fixtures/cosign: keys, trusted roots and signatures made
# by signer.mjs (an implementation independent of img-authz) for the digest
# below. The unit tests in tests/cosign_fixtures.rs verify them offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../fixtures/cosign
[ -d "$here/node_modules" ] || (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
rm -rf "$out" && mkdir -p "$out/cases" "$out/keys"
digest=sha256:$(printf 'img-authz fixture image' | sha256sum | cut -d' ' -f1)
echo "$digest" >"$out/digest"
img=registry.test/app@$digest
subject=https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main
issuer=https://token.actions.githubusercontent.com
sign() { local name=$1; shift; node "$here/signer.mjs" sign "$keep" "$img" "$@" --out "$out/cases/$name.json"; }
# Private keys stay in a scratch directory; the tests need public keys only.
keep=$(mktemp -d)
trap 'rm -rf "$keep"' EXIT
node "$here/signer.mjs" init "$keep"
cp "$keep"/keys/*.pub "$out/keys/"
cp "$keep"/trusted_root.json "$keep"/rogue_root.json "$out/"
for k in p256 p384 ed25519 rsa other; do sign "simple-$k" --key "$k"; done
sign simple-p256-tlog --key p256 --tlog
sign simple-tampered-signature --key p256 --tamper signature
sign simple-wrong-digest --key p256 --tamper payload-digest
sign simple-keyless --keyless "$subject" "$issuer"
sign simple-keyless-legacy-issuer --keyless "$subject" "$issuer" --legacy-issuer
sign simple-keyless-rogue-ca --keyless "$subject" "$issuer" --rogue
sign simple-keyless-tampered-set --keyless "$subject" "$issuer" --tamper set
sign simple-keyless-other --keyless https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main "$issuer"
sign bundle-p256 --format bundle --key p256
sign bundle-p256-tlog --format bundle --key p256 --tlog
sign bundle-ed25519 --format bundle --key ed25519
sign bundle-keyless --format bundle --keyless "$subject" "$issuer"
sign bundle-keyless-tampered-signature --format bundle --keyless "$subject" "$issuer" --tamper signature
sign bundle-wrong-digest --format bundle --keyless "$subject" "$issuer" --tamper payload-digest
echo "fixtures written to $out"
