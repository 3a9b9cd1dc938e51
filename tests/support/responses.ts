/**
 * Reading an answer in a story: status first, then content type, then body. (Every answer has already
 * been checked against the OpenAPI document by `callFunction`.)
 */
import assert from "node:assert/strict";

/** The body of a JSON answer with this status (200 unless said); the body is in the failure message. */
// deno-lint-ignore no-explicit-any
export async function expectJson(response: Response, status = 200): Promise<any> {
  const text = await response.text();
  assert.equal(response.status, status, text);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  return JSON.parse(text);
}

/** The body of an error answer: this status, this `error.code`, and a message for people. */
// deno-lint-ignore no-explicit-any
export async function expectError(response: Response, status: number, code: string): Promise<any> {
  const body = await expectJson(response, status);
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, "string");
  return body;
}
