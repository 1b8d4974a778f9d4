// What both samples share: who the user is, the client, and the status line.
import { IndexedDbStore, LockstepClient } from "../lib/index.js";

const userKey = "lockstep-samples-user";

/**
 * Shows and remembers the user's name in the header's #user field: ?user=ana in the address wins,
 * else the name this browser remembers, else a made-up one. Edits of the field are remembered too.
 */
export function setUpUser() {
  const input = document.getElementById("user");
  const fromAddress = new URLSearchParams(location.search).get("user");
  input.value = fromAddress || localStorage.getItem(userKey) || `guest-${Math.floor(Math.random() * 900 + 100)}`;
  localStorage.setItem(userKey, input.value);
  input.addEventListener("change", () => localStorage.setItem(userKey, userName()));
  // The links between the pages keep the name, and the encoding when one was chosen.
  for (const link of document.querySelectorAll("a[data-keep-user]")) {
    link.addEventListener("click", () => {
      const query = new URLSearchParams({ user: userName() });
      const encoding = new URLSearchParams(location.search).get("encoding");
      if (encoding) {
        query.set("encoding", encoding);
      }
      link.search = query.toString();
    });
  }
}

/** The name the writes of this page are signed with. */
export function userName() {
  return document.getElementById("user").value.trim() || "anonymous";
}

/** The wire encoding: ?encoding=msgpack in the address for MessagePack, else JSON. */
export function encoding() {
  return new URLSearchParams(location.search).get("encoding") === "msgpack" ? "msgpack" : "json";
}

/** A client of the server that served this page. */
export function createClient() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return new LockstepClient({
    urls: [`${scheme}://${location.host}/v1/sync`],
    encoding: encoding(),
    // The cache, the cursor and the queue of unconfirmed writes live in IndexedDB: edits made
    // offline survive a reload and are sent, exactly once, when the server is reachable again.
    store: new IndexedDbStore("lockstep-samples"),
    // A dropped network sends no error: the client notices the silence after two heartbeats, so a
    // short heartbeat shows "offline" within seconds, and a short backoff reconnects soon after.
    heartbeatIntervalMs: 2_000,
    reconnectMaxDelayMs: 2_000,
    // There is one server and nothing to fail over to: after failures, skip it only briefly (by
    // default the client skips it for 10 s after 5 failed attempts in a row).
    circuitBreakDurationMs: 1_000,
    // Connections, disconnections and refused writes show in the browser's console.
    logger: console,
  });
}

/** Keeps #status (the connection) and #pending (writes the server has not confirmed yet) current. */
export function showStatus(client) {
  const status = document.getElementById("status");
  const pending = document.getElementById("pending");
  const labels = { online: "online", connecting: "connecting…", offline: "offline", closed: "closed" };
  const render = () => {
    status.dataset.state = client.state;
    status.textContent = labels[client.state];
    const n = client.pendingCount;
    pending.textContent = n === 0 ? "all changes saved" : `${n} change${n === 1 ? "" : "s"} waiting to be sent`;
  };
  client.onStateChange(render);
  // The client has no event for its queue's length; a quarter second is soon enough for a person.
  setInterval(render, 250);
  render();
}

/** Shows a message in #message; kind is "ok", "conflict" or "error". */
export function say(text, kind = "ok") {
  const message = document.getElementById("message");
  message.className = `message ${kind}`;
  message.textContent = text;
}
