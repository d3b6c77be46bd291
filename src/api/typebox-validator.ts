import { Kind, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import { invalidInput } from '../core/runtime-error.js';

const PART_NAMES: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
};

/**
 * A copy of `schema` for converting strings, with every integer read as a number: TypeBox
 * converts a string to an integer with parseInt, so `1.5` would become 1 and pass. As a
 * number it stays 1.5, and the check against the real schema rejects it (`invalid_input`).
 */
function integersAsNumbers(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(integersAsNumbers);
  if (typeof schema !== 'object' || schema === null) return schema;
  const copy: Record<string | symbol, unknown> = { ...schema };
  for (const key of Object.keys(copy)) copy[key] = integersAsNumbers(copy[key]);
  if (copy[Kind] === 'Integer') return { ...copy, [Kind]: 'Number', type: 'number' };
  return copy;
}

/**
 * Validates with the same TypeBox schemas that give the static types and the OpenAPI
 * document. Bodies are checked as sent (a string is never coerced into a number: wrong
 * types are `invalid_input`); query, path and headers arrive as strings and are converted
 * (an integer must convert to a whole number: `?limit=1.5` is rejected, not truncated).
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const checker = TypeCompiler.Compile(schema);
  const isBody = httpPart === 'body';
  const conversionSchema = isBody ? schema : (integersAsNumbers(schema) as TSchema);
  return (data: unknown) => {
    const value = isBody ? data : Value.Convert(conversionSchema, data);
    if (checker.Check(value)) return { value };
    const first = checker.Errors(value).First();
    const where =
      first === undefined || first.path === ''
        ? ''
        : ` at ${first.path.replace(/^\//, '').replaceAll('/', '.')}`;
    const part = PART_NAMES[httpPart ?? 'body'] ?? 'request';
    return {
      error: invalidInput(
        `invalid ${part}${where}: ${first?.message ?? 'does not match the schema'}`,
        {
          part,
          path: first?.path,
        },
      ),
    };
  };
};
