import assert from "node:assert/strict";
import { loadConfig } from "../supabase/functions/_shared/config.ts";
import { generatePassword, sealPassword, unsealPassword } from "../supabase/functions/_domain/password.ts";
import "./support/server.ts"; // the environment every function sees

Deno.test("generated passwords: 20 characters, all three classes, no look-alikes, never repeated", () => {
  const passwords = Array.from({ length: 2000 }, generatePassword);
  assert.equal(new Set(passwords).size, passwords.length);
  for (const password of passwords) {
    assert.match(password, /^[A-HJ-NP-Za-km-z2-9]{20}$/);
    assert.match(password, /[A-Z]/);
    assert.match(password, /[a-z]/);
    assert.match(password, /[2-9]/);
  }
});

Deno.test("a sealed password opens only in its own context and hides the password", async () => {
  const password = generatePassword();
  const sealed = await sealPassword(password, "welcome-email:bolat");
  assert.ok(!sealed.includes(password));
  assert.match(sealed, /^v1\.[A-Za-z0-9+/=]{16}\.[A-Za-z0-9+/=]{24,}$/);
  assert.notEqual(await sealPassword(password, "welcome-email:bolat"), sealed, "a fresh IV every time");
  assert.equal(await unsealPassword(sealed, "welcome-email:bolat"), password);
  assert.equal(await unsealPassword(sealed, "welcome-email:someone-else"), undefined);
  const tampered = sealed.slice(0, -4) + (sealed.endsWith("AAAA") ? "BBBB" : "AAAA");
  assert.equal(await unsealPassword(tampered, "welcome-email:bolat"), undefined);
  assert.equal(await unsealPassword("plain text", "welcome-email:bolat"), undefined);
});

Deno.test("configuration: the local stack is LOCAL_STACK=on, off by default, nothing else accepted", () => {
  const env = {
    DATABASE_URL: "postgresql://u@127.0.0.1:1/d",
    APP_LOGIN_URL: "https://academy.example/login",
  };
  assert.equal(loadConfig(env).local, false);
  assert.equal(loadConfig({ ...env, LOCAL_STACK: "on" }).local, true);
  assert.throws(() => loadConfig({ ...env, LOCAL_STACK: "local" }), /LOCAL_STACK must be "on" or "off"/);
});

Deno.test("configuration: SEALING_KEY first, then the secret keys, then the JWT secret", () => {
  const saved = Deno.env.get("SEALING_KEY");
  try {
    Deno.env.set("SEALING_KEY", "a-dedicated-sealing-key");
    const { sealingSecrets, secretKeys, jwtSecret } = loadConfig();
    assert.deepEqual(sealingSecrets, ["a-dedicated-sealing-key", ...secretKeys, jwtSecret]);
  } finally {
    if (saved === undefined) Deno.env.delete("SEALING_KEY");
    else Deno.env.set("SEALING_KEY", saved);
  }
});
