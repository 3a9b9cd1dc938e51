/**
 * The API contract, enforced: every response a test receives from /functions/v1 is checked against
 * the OpenAPI document the functions generate (status, content type, headers, body schema), so a route
 * that answers something undocumented fails its own test. Objects may not carry undocumented fields.
 */
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { apiDocument } from "../../scripts/lib/api_document.ts";
import { functions } from "../../scripts/lib/functions.ts";

type Json = Record<string, unknown>;
interface Operation {
  responses: Record<string, Json>;
  security?: Record<string, string[]>[];
}

const document = await apiDocument(functions) as unknown as {
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, Record<string, Json>>;
};
const documentId = "https://tripwire.local/openapi.json";

/**
 * Every documented operation that takes a signed-in user's token (`userJwt`), as a method and a path with
 * each `{parameter}` filled by a valid-looking value.
 */
export function signedInOperations(): { method: string; path: string }[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([, operation]) => operation.security?.some((scheme) => "userJwt" in scheme))
      .map(([method, _]) => ({
        method: method.toUpperCase(),
        path: path.replace(/\{[^}]+\}/g, crypto.randomUUID()),
      }))
  );
}

/** `#/components/…` made absolute, and every described object closed to undocumented fields. */
function prepared(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(prepared);
  if (!node || typeof node !== "object") return node;
  const copy: Json = {};
  for (const [key, value] of Object.entries(node)) {
    copy[key] = key === "$ref" && typeof value === "string" && value.startsWith("#/")
      ? `${documentId}${value}`
      : prepared(value);
  }
  if (copy.type === "object" && copy.properties && copy.additionalProperties === undefined) {
    copy.additionalProperties = false;
  }
  return copy;
}

// deno-lint-ignore no-explicit-any
const addFormats = addFormatsModule as any as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: documentId, components: prepared(document.components) });

const templates = Object.keys(document.paths).map((template) => ({
  template,
  pattern: new RegExp(`^${template.replace(/\{[^/]+\}/g, "[^/]+")}/?$`),
}));

function resolved(response: Json): Json {
  const ref = response.$ref;
  if (typeof ref !== "string") return response;
  const name = ref.split("/").at(-1)!;
  return document.components.responses[name];
}

const validators = new Map<string, ReturnType<typeof ajv.compile>>();

function validatorFor(key: string, schema: unknown) {
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(prepared(schema) as Json);
    validators.set(key, validate);
  }
  return validate;
}

/** Meta routes of the local stack, outside the functions' own documents. */
const metaPaths = [/^\/openapi\.json$/, /^\/docs(\/.*)?$/, /^\/[a-z-]+\/openapi\.json$/];

/**
 * Checks one answer against the document. `path` is what follows /functions/v1 (no query string).
 * The response is read through a clone, so the caller can still read its body.
 */
export async function checkContract(method: string, path: string, response: Response): Promise<void> {
  const where = `${method} ${path} → ${response.status}`;
  if (metaPaths.some((meta) => meta.test(path))) return;
  const preflight = method === "OPTIONS";
  const copy = response.clone();
  const text = await copy.text();
  if (preflight) {
    // CORS preflight: answered by the frame for every route, not an operation of the API.
    assert.equal(response.status, 204, where);
    return;
  }
  const match = templates.find(({ pattern }) => pattern.test(path));
  if (!match) {
    assert.equal(response.status, 404, `${where}: a path the document does not have must answer 404`);
    assertErrorBody(text, response, where);
    return;
  }
  const item = document.paths[match.template];
  const operation = item[method === "HEAD" ? "get" : method.toLowerCase()];
  if (!operation) {
    assert.equal(response.status, 405, `${where}: the document has no ${method} here`);
    const documented = Object.keys(item).map((name) => name.toUpperCase());
    const allow = (response.headers.get("allow") ?? "").split(",").map((name) => name.trim());
    for (const name of documented) assert.ok(allow.includes(name), `${where}: Allow lacks ${name}`);
    assertErrorBody(text, response, where);
    return;
  }
  const described = operation.responses[String(response.status)];
  assert.ok(described, `${where}: status ${response.status} is not documented (${text.slice(0, 300)})`);
  const answer = resolved(described);
  assert.ok(response.headers.get("x-request-id"), `${where}: no x-request-id`);
  for (const name of Object.keys((answer.headers ?? {}) as Json)) {
    if (["x-request-id", "etag", "retry-after", "www-authenticate", "allow"].includes(name)) {
      assert.ok(response.headers.has(name), `${where}: the documented header ${name} is missing`);
    }
  }
  const content = answer.content as Record<string, { schema: unknown }> | undefined;
  if (method === "HEAD" || !content) {
    assert.equal(text, "", `${where}: no body is documented`);
    return;
  }
  const contentType = response.headers.get("content-type") ?? "";
  const mediaType = Object.keys(content).find((type) => contentType.startsWith(type));
  assert.ok(mediaType, `${where}: content type ${contentType} is not documented`);
  if (mediaType === "text/csv") {
    assert.match(text, /^[^\r\n]+\r?\n/, `${where}: a CSV answer starts with its header row`);
    return;
  }
  if (mediaType === "application/pdf") {
    assert.ok(text.startsWith("%PDF-"), `${where}: not a PDF`);
    return;
  }
  const validate = validatorFor(`${match.template} ${method} ${response.status}`, content[mediaType].schema);
  const body = JSON.parse(text);
  assert.ok(
    validate(body),
    `${where}: the body does not match the document: ${ajv.errorsText(validate.errors)}\n${
      text.slice(0, 500)
    }`,
  );
}

function assertErrorBody(text: string, response: Response, where: string) {
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/, where);
  const validate = validatorFor("Error", { $ref: "#/components/schemas/Error" });
  assert.ok(validate(JSON.parse(text)), `${where}: not the error body: ${ajv.errorsText(validate.errors)}`);
}

/** `fetch` for the functions: every answer from …/functions/v1/… is checked against the document. */
export async function checkedFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, init);
  const path = new URL(url).pathname.match(/^\/functions\/v1(\/.*)$/)?.[1];
  if (path) await checkContract((init.method ?? "GET").toUpperCase(), path, response);
  return response;
}
