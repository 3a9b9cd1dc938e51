/**
 * Where the functions may send a request someone else named (webhook endpoints): the rules, with the DNS
 * answers given, so a name that resolves outside at registration and inside at delivery can be shown.
 */
import assert from "node:assert/strict";
import {
  assertPublicHost,
  checkOutboundUrl,
  isPublicAddress,
  type Resolve,
} from "../supabase/functions/_shared/outbound.ts";

/** A resolver that gives these answers, one per lookup. */
function answering(...answers: string[][]): Resolve {
  return () => Promise.resolve(answers.shift() ?? []);
}

Deno.test("only public unicast addresses, IPv4 and IPv6, mapped and translated forms included", () => {
  for (const address of ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]) {
    assert.ok(isPublicAddress(address), address);
  }
  for (
    const address of [
      "10.0.0.1",
      "172.16.0.1",
      "192.168.0.1",
      "127.0.0.1",
      "127.1.2.3",
      "0.0.0.0",
      "169.254.169.254",
      "100.64.0.1",
      "192.0.2.1",
      "198.18.0.1",
      "224.0.0.1",
      "240.0.0.1",
      "255.255.255.255",
      "::",
      "::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "fe80::1",
      "fc00::1",
      "fd12:3456::1",
      "ff02::1",
      "2001:db8::1",
      "64:ff9b::a00:1",
      "2002:a00:1::1",
      "2001::1",
      "not an address",
    ]
  ) {
    assert.ok(!isPublicAddress(address), address);
  }
});

Deno.test("a URL is normalised, https only, with no user info of any kind", async () => {
  const resolve = answering(["93.184.215.14"]);
  const url = await checkOutboundUrl("HTTPS://CRM.Example.KZ:443/hooks?x=1#part", {
    loopback: false,
    resolve,
  });
  assert.equal(url.href, "https://crm.example.kz/hooks?x=1");
  for (
    const [text, reason] of [
      ["http://crm.example.kz/hooks", /must be https/],
      ["HTTP://LOCALHOST/hooks", /must be https/],
      ["ftp://crm.example.kz/", /must be https/],
      ["https://user:pass@crm.example.kz/", /no user name or password/],
      ["https://:pw@crm.example.kz/", /no user name or password/],
      ["https://@crm.example.kz/", /no user name or password/],
      ["crm.example.kz/hooks", /absolute URL/],
    ] as const
  ) {
    await assert.rejects(
      checkOutboundUrl(text, { loopback: false, resolve: answering(["8.8.8.8"]) }),
      reason,
      text,
    );
  }
});

Deno.test("this machine only where the project runs locally", async () => {
  const local = { loopback: true, resolve: answering(["127.0.0.1"]) };
  assert.equal(
    (await checkOutboundUrl("HTTP://LOCALHOST:8080/hooks", local)).href,
    "http://localhost:8080/hooks",
  );
  assert.equal((await checkOutboundUrl("http://127.0.0.1:9/hooks", local)).href, "http://127.0.0.1:9/hooks");
  await assert.rejects(checkOutboundUrl("http://10.0.0.1/hooks", local), /must be https/);
  await assert.rejects(checkOutboundUrl("https://10.0.0.1/hooks", local), /public address/);
  const deployed = { loopback: false, resolve: answering(["127.0.0.1"]) };
  await assert.rejects(checkOutboundUrl("http://localhost:8080/hooks", deployed), /must be https/);
  await assert.rejects(checkOutboundUrl("https://localhost/hooks", deployed), /127\.0\.0\.1, loopback/);
  await assert.rejects(checkOutboundUrl("https://[::1]/hooks", deployed), /loopback/);
  await assert.rejects(checkOutboundUrl("https://0x7f.1/hooks", deployed), /127\.0\.0\.1 is loopback/);
});

Deno.test("a name is refused when any of its addresses is inside, or when it does not resolve", async () => {
  await assert.rejects(
    checkOutboundUrl("https://crm.example.kz/", {
      loopback: false,
      resolve: answering(["8.8.8.8", "10.0.0.9"]),
    }),
    /crm\.example\.kz is 10\.0\.0\.9, private/,
  );
  await assert.rejects(
    checkOutboundUrl("https://crm.example.kz/", { loopback: false, resolve: answering([]) }),
    /resolves/,
  );
  const failing: Resolve = () => Promise.reject(new Error("ENOTFOUND"));
  await assert.rejects(
    checkOutboundUrl("https://nowhere.invalid/", { loopback: false, resolve: failing }),
    /resolves/,
  );
});

Deno.test("rebinding: public when registered, inside at delivery → refused at delivery", async () => {
  const resolve = answering(["93.184.215.14"], ["169.254.169.254"]);
  const url = await checkOutboundUrl("https://crm.example.kz/hooks", { loopback: false, resolve });
  await assert.rejects(assertPublicHost(url, { loopback: false, resolve }), /169\.254\.169\.254, linkLocal/);
});
