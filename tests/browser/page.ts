/**
 * What the browser tests' page loads (bundled by `deno bundle`): supabase-js and the watch tracker, as a
 * front end would import them. The tests drive them through `page.evaluate`.
 */
import { createClient } from "@supabase/supabase-js";
import { WatchTracker } from "../../web/src/watch_tracker.ts";

Object.assign(globalThis, { createClient, WatchTracker });
