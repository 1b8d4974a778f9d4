// The approval board: requests in the `strict` collection `approvals` move
// draft → submitted → approved / rejected. Every move carries the version the user saw (ifVersion),
// so of two people deciding the same request at once exactly one wins; the other gets a
// VersionConflictError holding the request as it now stands.
import { VersionConflictError } from "../lib/index.js";
import { createClient, say, setUpUser, showStatus, userName } from "./common.js";

setUpUser();
const client = createClient();
showStatus(client);
const approvals = client.collection("approvals");
const board = approvals.subscribe();
client.start();

// Which button moves a request from which status to which.
const moves = {
  submit: { from: "draft", to: "submitted", label: "Submit" },
  approve: { from: "submitted", to: "approved", label: "Approve" },
  reject: { from: "submitted", to: "rejected", label: "Reject" },
};

// A move names the version it was decided on. After a write of this page, that is the version the
// server's acknowledgement gave: the local view catches up a moment later, when the change itself
// arrives. Until the acknowledgement, the request shows no buttons ("saving…").
const saving = new Set();
const acknowledged = new Map();
const versionOf = (id) => Math.max(approvals.getVersion(id), acknowledged.get(id) ?? 0);

async function write(id, send) {
  saving.add(id);
  render();
  try {
    const ack = await send();
    acknowledged.set(id, ack.results[0].version);
  } finally {
    saving.delete(id);
    render();
  }
}

function el(tag, { dataset = {}, ...props } = {}, ...children) {
  const element = Object.assign(document.createElement(tag), props);
  Object.assign(element.dataset, dataset);
  element.append(...children);
  return element;
}

function card(id, request) {
  const version = versionOf(id);
  const actions = saving.has(id)
    ? [el("span", { className: "saving", textContent: "saving…" })]
    : Object.entries(moves)
        .filter(([, move]) => move.from === request.status)
        .map(([action, move]) => el("button", { type: "button", textContent: move.label, className: action === "reject" ? "danger" : "", dataset: { action } }));
  return el(
    "article",
    { className: "card", dataset: { id, status: request.status } },
    el("h3", { textContent: request.title }),
    el("p", { textContent: `${Number(request.amount).toLocaleString("en")} EUR · requested by ${request.requester}` }),
    el("p", { className: "by", textContent: `${request.status} by ${request.by}${version > 0 ? ` · version ${version}` : ""}` }),
    ...(actions.length > 0 ? [el("div", { className: "actions" }, ...actions)] : []),
  );
}

function render() {
  for (const column of document.querySelectorAll("[data-column]")) {
    // The most recently moved first.
    const entries = [...board.documents]
      .filter(([, request]) => request.status === column.dataset.column)
      .sort(([, a], [, b]) => String(b.at).localeCompare(String(a.at)));
    column.querySelector(".cards").replaceChildren(...entries.map(([id, request]) => card(id, request)));
    column.querySelector(".count").textContent = String(entries.length);
  }
}

// The query changes for everyone's moves, this page's own at once (before the server confirms them),
// and a refused move's return to the server's state.
board.onChange(render);
await client.restored();
render();

async function move(id, action) {
  const request = approvals.get(id);
  const { from, to } = moves[action];
  if (request?.status !== from || saving.has(id)) {
    return;
  }
  try {
    await write(id, () => approvals.patch(id, { status: to, by: userName(), at: new Date().toISOString() }, { ifVersion: versionOf(id) }));
    say(`“${request.title}” is ${to}.`, "ok");
  } catch (error) {
    if (error instanceof VersionConflictError) {
      const now = error.currentDocument;
      const state = now === undefined ? "deleted" : `${now.status} by ${now.by}`;
      say(`Conflict: “${request.title}” was already ${state} (version ${error.currentVersion}). Your ${action} was not applied (${error.code}).`, "conflict");
    } else {
      say(`Your ${action} of “${request.title}” was refused: ${error.message}`, "error");
    }
  }
}

document.getElementById("board").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button !== null) {
    void move(button.closest(".card").dataset.id, button.dataset.action);
  }
});

document.getElementById("new-request").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const { title, amount } = form.elements;
  const id = `r-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const request = { title: title.value.trim(), amount: Number(amount.value), requester: userName(), status: "draft", by: userName(), at: new Date().toISOString() };
  // ifVersion 0: create it, never overwrite one that exists.
  write(id, () => approvals.put(id, request, { ifVersion: 0 })).catch((error) => say(`The request was refused: ${error.message}`, "error"));
  form.reset();
});

// The board relies on `approvals` being strict; say so when the server treats it otherwise.
const status = await fetch("/v1/status").then((response) => response.json());
if (status.collections.some((c) => c.name === "approvals" && c.policy !== "strict")) {
  say("This server does not treat the collection approvals as strict: start it with --strict approvals.", "error");
}
