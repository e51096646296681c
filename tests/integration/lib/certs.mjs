// Throwaway test PKI made with the openssl CLI: a CA, a server cert for localhost/127.0.0.1,
// and a cert (same CA) for a different host name.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir } from './proxy.mjs';

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

function leaf(dir, name, cn, san) {
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  writeFileSync(path.join(dir, `${name}.ext`), [
    `subjectAltName=${san}`,
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', `${name}.pem`, '-days', '3', '-sha256', '-extfile', `${name}.ext`], dir);
  return {
    keyFile: path.join(dir, `${name}.key`),
    certFile: path.join(dir, `${name}.pem`),
    key: readFileSync(path.join(dir, `${name}.key`)),
    cert: readFileSync(path.join(dir, `${name}.pem`)),
  };
}

/**
 * Returns { dir, caFile, ca, server: {key, cert, ...}, wrongHost: {...}, selfSigned: {...}, cleanup() }.
 * server is valid for DNS:localhost and IP:127.0.0.1; wrongHost only for wrong-host.invalid.
 */
export function makeCerts() {
  const dir = makeTempDir('spendgate-certs-');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3', '-sha256', '-subj', '/CN=spendgate integration test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const server = leaf(dir, 'server', 'localhost', 'DNS:localhost,IP:127.0.0.1');
  const wrongHost = leaf(dir, 'wrong', 'wrong-host.invalid', 'DNS:wrong-host.invalid');
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    ca: readFileSync(path.join(dir, 'ca.pem')),
    server,
    wrongHost,
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
}
