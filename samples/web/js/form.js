// The collaborative form: every control of <form id="offsite"> is bound to one field of one
// document in the `lww` collection `forms`, so concurrent edits merge field by field.
import { bindForm } from "../lib/index.js";
import { createClient, say, setUpUser, showStatus, userName } from "./common.js";

setUpUser();
// ?form=… picks the document; everyone with the same one edits together.
const docId = new URLSearchParams(location.search).get("form") || "offsite";
document.getElementById("doc-name").textContent = `forms/${docId}`;

const client = createClient();
showStatus(client);
const forms = client.collection("forms");
forms.subscribe();
client.start();

// Who changed a field last lives in the document itself, in `_by` (field → name), written in the
// same patch as the field: {"agenda": "…", "_by.agenda": "ana"}. One write, so a field and its
// author always win or lose together. bindForm writes through this wrapper, which adds the author.
const signed = {
  get: (id) => forms.get(id),
  onChange: (handler) => forms.onChange(handler),
  patch: (id, fields, options) => {
    const by = Object.fromEntries(Object.keys(fields).map((field) => [`_by.${field}`, userName()]));
    return forms.patch(id, { ...fields, ...by }, options);
  },
};

// Under every control, a line saying who changed that field last.
const form = document.getElementById("offsite");
const byLines = new Map();
for (const control of form.elements) {
  const line = document.createElement("small");
  line.className = "by";
  line.dataset.by = control.name;
  control.closest("label").append(line);
  byLines.set(control.name, line);
}

function showAuthors(doc) {
  const by = doc?._by ?? {};
  for (const [field, line] of byLines) {
    const who = by[field];
    line.textContent = who === undefined ? "" : `changed by ${who}`;
    line.classList.toggle("remote", who !== undefined && who !== userName());
  }
}

forms.onChange((change) => {
  if (change.id === docId) {
    showAuthors(change.document);
  }
});

// Bind once the cache is read from IndexedDB, so the form opens with what this browser last saw
// (and its unsent edits) even before the server answers.
await client.restored();
bindForm(form, signed, docId, {
  onError: (error, field) => say(`The server refused your change of “${field}”: ${error.message}`, "error"),
});
showAuthors(forms.get(docId));
