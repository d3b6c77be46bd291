import type { TSchema } from '@sinclair/typebox';
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
 * Validates with the same TypeBox schemas that give the static types and the OpenAPI
 * document. Bodies are checked as sent (a string is never coerced into a number: wrong
 * types are `invalid_input`); query, path and headers arrive as strings and are converted.
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const checker = TypeCompiler.Compile(schema);
  const isBody = httpPart === 'body';
  return (data: unknown) => {
    const value = isBody ? data : Value.Convert(schema, data);
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
