/**
 * Other projects' code carried in `supabase/functions/_vendor/` is what its README says: each copy is its npm
 * release plus the stated change, checked here against the release npm installed (devDependencies).
 */
import assert from "node:assert/strict";
import { fontkitFile, fontkitText } from "../scripts/lib/generated.ts";

Deno.test("the vendored fontkit is the npm package's build, as its README says (npm run gen:fontkit)", async () => {
  assert.equal(await Deno.readTextFile(fontkitFile), await fontkitText(), "stale: run npm run gen:fontkit");
});
