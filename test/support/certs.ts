/** Certificates made by openssl for the tests: valid, soon expiring, expired, wrong names. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Cert { readonly cert: string; readonly key: string }

export function makeCert(opts: { cn: string; sans?: string[]; days?: number; expired?: boolean }): Cert {
  const dir = mkdtempSync(join(tmpdir(), 'cert-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const san = opts.sans?.length ? ['-addext', `subjectAltName=${opts.sans.map((s) => `DNS:${s}`).join(',')}`] : [];
  if (!opts.expired) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${opts.cn}`, '-days', String(opts.days ?? 365), ...san], { stdio: 'ignore' });
    return { cert, key };
  }
  // req -x509 cannot date a certificate in the past; a throwaway CA can.
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  writeFileSync(join(dir, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${dir}/index.txt\nserial=${dir}/serial\nnew_certs_dir=${dir}\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', join(dir, 'r.csr'), '-subj', `/CN=${opts.cn}`], { stdio: 'ignore' });
  execFileSync('openssl', ['ca', '-batch', '-config', join(dir, 'ca.cnf'), '-selfsign', '-keyfile', key, '-in', join(dir, 'r.csr'), '-out', cert, '-startdate', '20200101000000Z', '-enddate', '20200102000000Z'], { stdio: 'ignore' });
  return { cert, key };
}
