// The client against a real server with authentication on: JWTs from its token provider (a fresh one
// at every connection, so an expiring token is replaced without the application noticing), and a
// write the collection's owner rule refuses.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";
import { LockstepClient, LockstepError } from "../../src/index.js";
import { LockstepServer, testEncoding, waitFor } from "./harness.js";

const secret = "a shared secret for the TypeScript tests, long enough";
const issuer = "https://id.test";
const audience = "lockstep-ts";

function base64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}

/** An HS256 JWT for a user, valid for a few seconds. */
function jwt(sub: string, lifeSeconds: number): string {
  const now = Math.floor(Date.now() / 1000);
  const body = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify({ sub, iss: issuer, aud: audience, nbf: now - 60, exp: now + lifeSeconds }))}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

let server: LockstepServer;
const clients: LockstepClient[] = [];

before(async () => {
  server = await LockstepServer.start({
    env: {
      Lockstep__Auth__Jwt__Issuer: issuer,
      Lockstep__Auth__Jwt__Audience: audience,
      Lockstep__Auth__Jwt__HmacSecret: secret,
      Lockstep__Auth__Jwt__ClockSkew: "00:00:00",
      Lockstep__Collections__todos__Read__0: "owner:ownerId",
      Lockstep__Collections__todos__Write__0: "owner:ownerId",
    },
  });
});

after(async () => {
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
  await server.dispose();
});

interface Todo {
  ownerId: string;
  text?: string;
}

test(`(${testEncoding}) the client gets a fresh token from its provider when the server closes an expired one, and an owner rule refuses another's document`, async () => {
  let issued = 0;
  const c = new LockstepClient({
    urls: [server.wsUrl],
    webSocket: WebSocket,
    encoding: testEncoding,
    reconnectBaseDelayMs: 50,
    reconnectMaxDelayMs: 500,
    requestTimeoutMs: 5_000,
    tokenProvider: () => {
      issued++;
      return jwt("alice", 2);
    },
  });
  clients.push(c);
  await c.start();
  const todos = c.collection<Todo>("todos");
  const mine = todos.subscribe();
  await mine.ready();
  await todos.put("a1", { ownerId: "alice", text: "one" });

  await waitFor("two token expiries", () => issued >= 3, 20_000);
  await todos.put("a2", { ownerId: "alice", text: "two" });
  await waitFor("both documents", () => mine.results.length === 2);

  await assert.rejects(todos.put("b1", { ownerId: "bob" }), (error: unknown) => error instanceof LockstepError && error.code === "forbidden");
  assert.equal(todos.get("b1"), undefined);
  assert.equal(mine.results.length, 2);

  // Without a token the server refuses the connection: nothing is served.
  const response = await fetch(`${server.httpUrl}/v1/collections/todos/docs`);
  assert.equal(response.status, 401);
});
