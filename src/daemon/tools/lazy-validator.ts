import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { jsonSchemaValidator, JsonSchemaType, JsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';

/** One Ajv for every server connection, made by the first tool result that needs it. */
let ajv: AjvJsonSchemaValidator | null = null;
/** Compiled validators by schema text: a reconnect, or a second server with the same schema, compiles nothing. */
const compiled = new Map<string, JsonSchemaValidator<unknown>>();
const MAX_COMPILED = 2000;

/**
 * The MCP client's output-schema validators, compiled when a tool's result is first checked
 * instead of when its server lists its tools. The SDK's default compiles every tool's schema at
 * `tools/list`, with a new Ajv per connection: about a second of the daemon's main thread at each
 * start and reconnect with the `ops` server's tools (CPU profile of a daemon start), for tools that
 * may never be called. Results are still checked against the same schema with the SDK's own Ajv
 * provider, before the caller sees them.
 */
export const lazyValidator: jsonSchemaValidator = {
  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    const text = JSON.stringify(schema);
    return (input: unknown) => {
      let v = compiled.get(text);
      if (!v) {
        ajv ??= new AjvJsonSchemaValidator();
        v = ajv.getValidator(schema);
        if (compiled.size >= MAX_COMPILED) compiled.clear();
        compiled.set(text, v);
      }
      return v(input) as ReturnType<JsonSchemaValidator<T>>;
    };
  },
};
