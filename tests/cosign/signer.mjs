// Test signer for img-authz's cosign verifier: an implementation independent
// of ours (Node's crypto, and @sigstore/mock's Fulcio-like CA, CT log and
// Rekor), writing what cosign writes to a registry:
//   - the classic format: tag sha256-<hex>.sig, one simple-signing layer per
//     signature with cosign's annotations (signature, certificate, bundle);
//   - the Sigstore bundle format (v0.3, DSSE in-toto statement, as cosign v3
//     signs images): an OCI artifact whose subject is the image, listed in
//     the referrers tag scheme (tag sha256-<hex>), since the Debian registry
//     has no referrers API.
//
// Usage:
//   node signer.mjs init DIR
//       keys (DIR/keys/NAME.key|.pub: p256 p384 ed25519 rsa other), a trusted
//       root DIR/trusted_root.json (CA, CT log, Rekor) and a rogue CA/CT/Rekor
//       that the trusted root does not name.
//   node signer.mjs sign DIR IMAGE@sha256:... [options]
//       --format simple|bundle   (simple)
//       --key NAME               key-based, with DIR/keys/NAME.key
//       --keyless SUBJECT ISSUER keyless: a certificate for SUBJECT (URI SAN)
//                                and ISSUER (OID 1.3.6.1.4.1.57264.1.8)
//       --legacy-issuer          put ISSUER in the old OID ...57264.1.1
//       --rogue                  keyless, from the CA the trusted root lacks
//       --tlog                   log it in Rekor (keyless always does)
//       --tamper signature|payload-digest|set|subject
//       --out FILE               write the signature (simple: payload and
//                                annotations; bundle: the bundle) instead of
//                                pushing it
//   Registries are reached over plain HTTP (loopback test registries).

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { initializeCA, initializeCTLog, initializeTLog } = require('@sigstore/mock');

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SIMPLE = 'application/vnd.dev.cosign.simplesigning.v1+json';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';
const INTOTO = 'application/vnd.in-toto+json';
const SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  OCI_MANIFEST,
  OCI_INDEX,
].join(', ');

const die = (m) => {
  console.error(`signer: ${m}`);
  process.exit(2);
};
const b64 = (b) => Buffer.from(b).toString('base64');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest();
const hex256 = (b) => sha256(b).toString('hex');

function pem(key) {
  return key.export({ type: 'pkcs8', format: 'pem' });
}

function writeKey(dir, name, pair) {
  fs.writeFileSync(path.join(dir, `${name}.key`), pem(pair.privateKey), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, `${name}.pub`), pair.publicKey.export({ type: 'spki', format: 'pem' }));
}

function readPair(file) {
  const privateKey = crypto.createPrivateKey(fs.readFileSync(file));
  return { privateKey, publicKey: crypto.createPublicKey(privateKey) };
}

function spki(key) {
  return key.export({ type: 'spki', format: 'der' });
}

// The three services of a Sigstore instance, from their saved keys.
async function instance(dir, which) {
  const d = path.join(dir, 'sigstore', which);
  const ct = await initializeCTLog(readPair(path.join(d, 'ct.key')));
  const ca = await initializeCA(readPair(path.join(d, 'ca.key')), ct);
  const tlog = await initializeTLog('https://rekor.test', readPair(path.join(d, 'rekor.key')));
  return { ca, tlog };
}

async function init(dir) {
  const keys = path.join(dir, 'keys');
  fs.mkdirSync(keys, { recursive: true });
  writeKey(keys, 'p256', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  writeKey(keys, 'p384', crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }));
  writeKey(keys, 'ed25519', crypto.generateKeyPairSync('ed25519'));
  writeKey(keys, 'rsa', crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }));
  writeKey(keys, 'other', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const start = new Date(Date.now() - 3600 * 1000).toISOString();
  for (const which of ['trusted', 'rogue']) {
    const d = path.join(dir, 'sigstore', which);
    fs.mkdirSync(d, { recursive: true });
    const ca = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const ct = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rekor = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeKey(d, 'ca', ca);
    writeKey(d, 'ct', ct);
    writeKey(d, 'rekor', rekor);
    const { ca: mockCa } = await instance(dir, which);
    const log = (k) => ({
      baseUrl: 'https://log.test',
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(spki(k.publicKey)), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
      logId: { keyId: b64(sha256(spki(k.publicKey))) },
    });
    const root = {
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [log(rekor)],
      certificateAuthorities: [
        {
          subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
          uri: 'https://fulcio.test',
          certChain: { certificates: [{ rawBytes: b64(mockCa.rootCertificate) }] },
          validFor: { start },
        },
      ],
      ctlogs: [log(ct)],
    };
    const out = which === 'trusted' ? 'trusted_root.json' : 'rogue_root.json';
    fs.writeFileSync(path.join(dir, out), JSON.stringify(root, null, 2));
  }
}

// --- registry (plain HTTP, no auth) ---

function parseImage(image) {
  const at = image.indexOf('@');
  if (at < 0) die(`${image}: give IMAGE@sha256:...`);
  const name = image.slice(0, at);
  const digest = image.slice(at + 1);
  const slash = name.indexOf('/');
  return { host: name.slice(0, slash), repo: name.slice(slash + 1), name, digest };
}

async function req(method, url, body, headers = {}) {
  const r = await fetch(url, { method, body, headers, redirect: 'manual' });
  return r;
}

async function getManifest(img, ref) {
  const r = await req('GET', `http://${img.host}/v2/${img.repo}/manifests/${ref}`, undefined, { Accept: ACCEPT });
  if (r.status === 404) return null;
  if (r.status !== 200) die(`GET manifest ${ref}: ${r.status}`);
  const bytes = Buffer.from(await r.arrayBuffer());
  return { bytes, mediaType: r.headers.get('content-type'), json: JSON.parse(bytes) };
}

async function pushBlob(img, bytes) {
  const digest = `sha256:${hex256(bytes)}`;
  const start = await req('POST', `http://${img.host}/v2/${img.repo}/blobs/uploads/`);
  if (start.status !== 202) die(`blob upload start: ${start.status}`);
  let loc = start.headers.get('location');
  if (loc.startsWith('/')) loc = `http://${img.host}${loc}`;
  const sep = loc.includes('?') ? '&' : '?';
  const put = await req('PUT', `${loc}${sep}digest=${encodeURIComponent(digest)}`, bytes, {
    'Content-Type': 'application/octet-stream',
  });
  if (put.status !== 201) die(`blob upload: ${put.status} ${await put.text()}`);
  return { digest, size: bytes.length };
}

async function putManifest(img, ref, mediaType, obj) {
  const bytes = Buffer.from(JSON.stringify(obj));
  const r = await req('PUT', `http://${img.host}/v2/${img.repo}/manifests/${ref}`, bytes, {
    'Content-Type': mediaType,
  });
  if (r.status !== 201) die(`PUT manifest ${ref}: ${r.status} ${await r.text()}`);
  return { digest: `sha256:${hex256(bytes)}`, size: bytes.length };
}

// --- signing ---

function signBytes(privateKey, data) {
  const t = privateKey.asymmetricKeyType;
  if (t === 'ed25519') return crypto.sign(null, data, privateKey);
  if (t === 'rsa') return crypto.sign('sha256', data, privateKey);
  const curve = privateKey.asymmetricKeyDetails.namedCurve;
  const hash = curve === 'secp384r1' ? 'sha384' : 'sha256';
  return crypto.sign(hash, data, { key: privateKey, dsaEncoding: 'der' });
}

function pae(type, body) {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `),
    body,
  ]);
}

function flip(buf) {
  const b = Buffer.from(buf);
  b[b.length - 1] ^= 0x01;
  return b;
}

async function signer(dir, opts) {
  if (opts.key) {
    const pair = readPair(path.join(dir, 'keys', `${opts.key}.key`));
    return { pair, verifierPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) };
  }
  const inst = await instance(dir, opts.rogue ? 'rogue' : 'trusted');
  const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const oid = opts.legacyIssuer ? '1.3.6.1.4.1.57264.1.1' : '1.3.6.1.4.1.57264.1.8';
  const cert = await inst.ca.issueCertificate({
    publicKey: spki(pair.publicKey),
    subjectAltName: opts.subject,
    extensions: [{ oid, value: opts.issuer, legacy: opts.legacyIssuer }],
  });
  const certPem = `-----BEGIN CERTIFICATE-----\n${b64(cert).match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
  return { pair, cert: Buffer.from(cert), certPem, verifierPem: certPem, tlog: inst.tlog };
}

async function tlogEntry(dir, s, opts, body) {
  const tlog = s.tlog || (await instance(dir, 'trusted')).tlog;
  const out = await tlog.log(body);
  const e = Object.values(out)[0];
  let set = Buffer.from(e.verification.signedEntryTimestamp, 'base64');
  if (opts.tamper === 'set') set = flip(set);
  return { ...e, set };
}

async function signSimple(dir, img, opts, s) {
  const digest = opts.tamper === 'payload-digest' ? `sha256:${hex256(img.digest)}` : img.digest;
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': img.name },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
  let sig = signBytes(s.pair.privateKey, payload);
  const annotations = {};
  if (s.certPem) annotations['dev.sigstore.cosign/certificate'] = s.certPem;
  if (s.tlog || opts.tlog) {
    const body = {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: hex256(payload) } },
        signature: { content: b64(sig), publicKey: { content: b64(s.verifierPem) } },
      },
    };
    const e = await tlogEntry(dir, s, opts, body);
    annotations['dev.sigstore.cosign/bundle'] = JSON.stringify({
      SignedEntryTimestamp: b64(e.set),
      Payload: { body: e.body, integratedTime: e.integratedTime, logIndex: e.logIndex, logID: e.logID },
    });
  }
  if (opts.tamper === 'signature') sig = flip(sig);
  annotations['dev.cosignproject.cosign/signature'] = b64(sig);
  if (opts.out) {
    fs.writeFileSync(opts.out, JSON.stringify({ payload: b64(payload), annotations }, null, 2));
    return;
  }

  const layer = await pushBlob(img, payload);
  const tag = `${img.digest.replace(':', '-')}.sig`;
  const existing = await getManifest(img, tag);
  const layers = existing ? existing.json.layers : [];
  layers.push({ mediaType: SIMPLE, size: layer.size, digest: layer.digest, annotations });
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
  const cfg = await pushBlob(img, config);
  await putManifest(img, tag, OCI_MANIFEST, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: cfg.size, digest: cfg.digest },
    layers,
  });
  console.log(`signed ${img.name}@${img.digest} (simple signing, tag ${tag})`);
}

async function signBundle(dir, img, opts, s) {
  const subjectDigest = opts.tamper === 'payload-digest' ? hex256(img.digest) : img.digest.slice(7);
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: img.name, digest: { sha256: subjectDigest } }],
      predicateType: SIGN_PREDICATE,
      predicate: {},
    }),
  );
  let sig = signBytes(s.pair.privateKey, pae(INTOTO, statement));
  const envelope = { payload: b64(statement), payloadType: INTOTO, signatures: [{ sig: b64(sig), keyid: '' }] };
  const material = s.cert ? { certificate: { rawBytes: b64(s.cert) } } : { publicKey: { hint: '' } };
  material.tlogEntries = [];
  if (s.tlog || opts.tlog) {
    const body = {
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: hex256(Buffer.from(JSON.stringify(envelope))) },
        payloadHash: { algorithm: 'sha256', value: hex256(statement) },
        signatures: [{ signature: b64(sig), verifier: b64(s.verifierPem) }],
      },
    };
    const e = await tlogEntry(dir, s, opts, body);
    const p = e.verification.inclusionProof;
    material.tlogEntries.push({
      logIndex: String(e.logIndex),
      logId: { keyId: b64(Buffer.from(e.logID, 'hex')) },
      kindVersion: { kind: 'dsse', version: '0.0.1' },
      integratedTime: String(e.integratedTime),
      inclusionPromise: { signedEntryTimestamp: b64(e.set) },
      inclusionProof: {
        logIndex: String(p.logIndex),
        rootHash: b64(Buffer.from(p.rootHash, 'hex')),
        treeSize: String(p.treeSize),
        hashes: p.hashes,
        checkpoint: { envelope: p.checkpoint },
      },
      canonicalizedBody: e.body,
    });
  }
  if (opts.tamper === 'signature') envelope.signatures[0].sig = b64(flip(sig));
  const bundle = Buffer.from(JSON.stringify({ mediaType: BUNDLE, verificationMaterial: material, dsseEnvelope: envelope }));
  if (opts.out) {
    fs.writeFileSync(opts.out, bundle);
    return;
  }

  const image = await getManifest(img, img.digest);
  if (!image) die(`${img.name}@${img.digest} is not in the registry`);
  const layer = await pushBlob(img, bundle);
  const empty = await pushBlob(img, Buffer.from('{}'));
  const subject = {
    mediaType: image.json.mediaType || image.mediaType,
    digest: opts.tamper === 'subject' ? `sha256:${hex256(img.digest)}` : img.digest,
    size: image.bytes.length,
  };
  const annotations = {
    'dev.sigstore.bundle.content': 'dsse-envelope',
    'dev.sigstore.bundle.predicateType': SIGN_PREDICATE,
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: BUNDLE,
    config: { mediaType: EMPTY, digest: empty.digest, size: empty.size },
    layers: [{ mediaType: BUNDLE, digest: layer.digest, size: layer.size }],
    subject,
    annotations,
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const ref = `sha256:${hex256(bytes)}`;
  const put = await putManifest(img, ref, OCI_MANIFEST, manifest);
  // The referrers tag scheme: an index at sha256-<hex> listing referrers.
  const tag = img.digest.replace(':', '-');
  const existing = await getManifest(img, tag);
  const index = existing
    ? existing.json
    : { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  index.manifests.push({ mediaType: OCI_MANIFEST, digest: put.digest, size: put.size, artifactType: BUNDLE, annotations });
  await putManifest(img, tag, OCI_INDEX, index);
  console.log(`signed ${img.name}@${img.digest} (sigstore bundle ${put.digest}, tag ${tag})`);
}

function parseOpts(args) {
  const o = { format: 'simple' };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--format') o.format = args[++i];
    else if (a === '--key') o.key = args[++i];
    else if (a === '--keyless') {
      o.subject = args[++i];
      o.issuer = args[++i];
    } else if (a === '--legacy-issuer') o.legacyIssuer = true;
    else if (a === '--rogue') o.rogue = true;
    else if (a === '--tlog') o.tlog = true;
    else if (a === '--tamper') o.tamper = args[++i];
    else if (a === '--out') o.out = args[++i];
    else die(`unknown option ${a}`);
  }
  if (!o.key === !o.subject) die('give --key NAME or --keyless SUBJECT ISSUER');
  if (!['simple', 'bundle'].includes(o.format)) die(`unknown format ${o.format}`);
  return o;
}

const [cmd, dir, ...rest] = process.argv.slice(2);
if (cmd === 'init' && dir) {
  await init(dir);
} else if (cmd === 'sign' && dir && rest.length >= 1) {
  const img = parseImage(rest[0]);
  const opts = parseOpts(rest.slice(1));
  const s = await signer(dir, opts);
  if (opts.format === 'simple') await signSimple(dir, img, opts, s);
  else await signBundle(dir, img, opts, s);
} else {
  die('usage: signer.mjs init DIR | sign DIR IMAGE@DIGEST [options]');
}
