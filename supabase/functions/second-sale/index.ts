// The function's entry, as Supabase runs it: the routes are in routes.ts (the local server and the tests
// import them from there).
import { serve } from "../_shared/app.ts";
import { app } from "./routes.ts";

serve(app);
