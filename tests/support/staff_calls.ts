/** Staff calling the students routes, for the students, refunds and access stories. */

import { enrol, type TestStudent, watch } from "./learning.ts";

import { appDatabase, callFunction, tokenFor } from "./server.ts";

export const sql = appDatabase.sql;

/** Calls a route as a staff member (a token for them), with a JSON body when there is one. */
export async function asStaff(userId: string, path: string, init: RequestInit = {}): Promise<Response> {
  return await callFunction(path, {
    ...init,
    headers: {
      authorization: `Bearer ${await tokenFor(userId)}`,
      ...(init.body ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
  });
}

/** POSTs `body` as JSON as a staff member. */
export function post(userId: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  return asStaff(userId, path, { method: "POST", body: JSON.stringify(body), headers });
}

/** Aida sells to Bolat and Dana (names carry a marker, so a search finds exactly them); Bolat watches. */
export async function aidasTwo(marker: string): Promise<{ bolat: TestStudent; dana: TestStudent }> {
  const bolat = await enrol(`Bolat ${marker}`);
  const dana = await enrol(`Dana ${marker}`);
  await watch(sql, bolat, 67, 0, 120, 10);
  return { bolat, dana };
}
