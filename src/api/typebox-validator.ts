import { Kind, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, ValueErrorType, type ValueError } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import { invalidInput } from '../core/runtime-error.js';

const PART_NAMES: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
};

/** The properties of a (flat) query, path or header schema that are integers. */
function integerProperties(schema: TSchema): string[] {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  return Object.keys(properties).filter((key) => properties[key]?.[Kind] === 'Integer');
}

/**
 * Converts query, path and header strings for checking. An integer is taken only as plain
 * decimal digits within a safe integer: TypeBox would read `1.5` as 1, `0x10` as 0 and
 * `true` as 1, and a larger number would not survive a round trip (a stream offset in an
 * SSE id, for one). Anything else stays a string and fails the check (`invalid_input`). A
 * negative one is converted too, so that its refusal names the minimum it is below (`-0`,
 * which would pass as 0, is not).
 */
function toWholeNumber(raw: unknown): unknown {
  if (typeof raw !== 'string' || !/^(\d+|-[1-9]\d*)$/.test(raw)) return raw;
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : raw;
}

function convertStrings(schema: TSchema, integers: readonly string[], data: unknown): unknown {
  if (typeof data !== 'object' || data === null || integers.length === 0)
    return Value.Convert(schema, data);
  const entries = Object.entries(data as Record<string, unknown>);
  const rest = Object.fromEntries(entries.filter(([key]) => !integers.includes(key)));
  const whole = Object.fromEntries(
    entries
      .filter(([key]) => integers.includes(key))
      .map(([key, raw]) => [key, toWholeNumber(raw)]),
  );
  return { ...(Value.Convert(schema, rest) as object), ...whole };
}

/**
 * What was wrong, in words a client can act on: a union of literals (an enum) names the
 * values it allows, where TypeBox says only `Expected union value`.
 */
function describeError(error: ValueError | undefined): string {
  if (error === undefined) return 'does not match the schema';
  const options = (error.schema as { anyOf?: Array<{ const?: unknown }> }).anyOf;
  if (
    error.type === ValueErrorType.Union &&
    options !== undefined &&
    options.length > 0 &&
    options.every((option) => ['string', 'number', 'boolean'].includes(typeof option.const))
  )
    return `expected one of: ${options.map((option) => String(option.const)).join(', ')}`;
  return error.message;
}

/**
 * Validates with the same TypeBox schemas that give the static types and the OpenAPI
 * document. Bodies are checked as sent (a string is never coerced into a number: wrong
 * types are `invalid_input`); query, path and headers arrive as strings and are converted
 * (an integer must be plain decimal digits: `?limit=1.5` or `0x10` is rejected, not guessed).
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const checker = TypeCompiler.Compile(schema);
  const isBody = httpPart === 'body';
  const integers = isBody ? [] : integerProperties(schema);
  return (data: unknown) => {
    const value = isBody ? data : convertStrings(schema, integers, data);
    if (checker.Check(value)) return { value };
    const first = checker.Errors(value).First();
    const where =
      first === undefined || first.path === ''
        ? ''
        : ` at ${first.path.replace(/^\//, '').replaceAll('/', '.')}`;
    const part = PART_NAMES[httpPart ?? 'body'] ?? 'request';
    return {
      error: invalidInput(`invalid ${part}${where}: ${describeError(first)}`, {
        part,
        path: first?.path,
      }),
    };
  };
};
