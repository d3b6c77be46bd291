import type { TenantQuota } from './resource-amounts.js';

const SPEC_FORMAT = 'NAME=slots:N[,memory:BYTES][,pids:N]';

type QuotaKey = 'slots' | 'memory' | 'pids';
const QUOTA_KEYS: readonly QuotaKey[] = ['slots', 'memory', 'pids'];

// Binary units only: memory limits are set in bytes by the kernel, and "1G" is ambiguous
// between 10^9 and 2^30.
const MEMORY_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** A --tenant-quota value that cannot be used; maps to 400/exit with `invalid_input`. */
export class InvalidTenantQuotaError extends Error {
  readonly code = 'invalid_input';
  readonly spec: string;
  readonly problem: string;

  constructor(spec: string, problem: string) {
    super(`invalid tenant quota ${JSON.stringify(spec)}: ${problem} (expected ${SPEC_FORMAT})`);
    this.name = 'InvalidTenantQuotaError';
    this.spec = spec;
    this.problem = problem;
  }
}

/**
 * Parses one `--tenant-quota` value, `NAME=slots:N[,memory:BYTES][,pids:N]`.
 * Keys may come in any order; slots is required. Every number is a positive integer; memory may
 * carry a binary suffix Ki, Mi, Gi or Ti (`memory:512Mi` = 536870912 bytes). Whitespace around
 * the name, entries, keys and values is ignored.
 */
export function parseTenantQuotaSpec(spec: string): TenantQuota {
  const equals = spec.indexOf('=');
  if (equals === -1) throw new InvalidTenantQuotaError(spec, 'missing "=" after the tenant name');
  const tenant = spec.slice(0, equals).trim();
  if (tenant === '') throw new InvalidTenantQuotaError(spec, 'tenant name is empty');

  const values = readQuotaEntries(spec, spec.slice(equals + 1));
  const slots = values.get('slots');
  if (slots === undefined) throw new InvalidTenantQuotaError(spec, 'slots is required');

  const quota: TenantQuota = { tenant, slots };
  const memory = values.get('memory');
  if (memory !== undefined) quota.memory_bytes = memory;
  const pids = values.get('pids');
  if (pids !== undefined) quota.pids = pids;
  return quota;
}

/** Parses every `--tenant-quota` value; naming the same tenant twice is an error. */
export function parseTenantQuotas(specs: readonly string[]): TenantQuota[] {
  const quotas: TenantQuota[] = [];
  const seen = new Set<string>();
  for (const spec of specs) {
    const quota = parseTenantQuotaSpec(spec);
    if (seen.has(quota.tenant)) {
      throw new InvalidTenantQuotaError(
        spec,
        `tenant ${JSON.stringify(quota.tenant)} already has a quota`,
      );
    }
    seen.add(quota.tenant);
    quotas.push(quota);
  }
  return quotas;
}

function readQuotaEntries(spec: string, body: string): Map<QuotaKey, number> {
  const values = new Map<QuotaKey, number>();
  if (body.trim() === '') throw new InvalidTenantQuotaError(spec, 'no limits after "="');
  for (const rawEntry of body.split(',')) {
    const entry = rawEntry.trim();
    if (entry === '') throw new InvalidTenantQuotaError(spec, 'empty entry between commas');
    const colon = entry.indexOf(':');
    if (colon === -1) {
      throw new InvalidTenantQuotaError(spec, `entry ${JSON.stringify(entry)} is not KEY:VALUE`);
    }
    const key = entry.slice(0, colon).trim();
    if (!isQuotaKey(key)) {
      throw new InvalidTenantQuotaError(
        spec,
        `unknown key ${JSON.stringify(key)} (known: ${QUOTA_KEYS.join(', ')})`,
      );
    }
    if (values.has(key)) throw new InvalidTenantQuotaError(spec, `${key} is given more than once`);
    values.set(key, parseQuotaNumber(spec, key, entry.slice(colon + 1).trim()));
  }
  return values;
}

function isQuotaKey(key: string): key is QuotaKey {
  return (QUOTA_KEYS as readonly string[]).includes(key);
}

function parseQuotaNumber(spec: string, key: QuotaKey, text: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(text);
  const digits = match?.[1];
  const unit = match?.[2] ?? '';
  const allowsUnit = key === 'memory';
  if (digits === undefined || (unit !== '' && !allowsUnit)) {
    const expected = allowsUnit
      ? 'a positive integer of bytes, optionally suffixed Ki, Mi, Gi or Ti'
      : 'a positive integer';
    throw new InvalidTenantQuotaError(
      spec,
      `${key} must be ${expected}, got ${JSON.stringify(text)}`,
    );
  }
  const value = Number(digits) * (MEMORY_UNITS[unit] ?? 1);
  if (value === 0) throw new InvalidTenantQuotaError(spec, `${key} must be greater than 0`);
  if (!Number.isSafeInteger(value)) {
    throw new InvalidTenantQuotaError(spec, `${key} is too large, got ${JSON.stringify(text)}`);
  }
  return value;
}
