// bindForm over a tiny DOM stand-in: a form with named controls, event listeners on the form only
// (delegation: events are dispatched with the control as target), and a document's activeElement.
// The same behaviour in a real browser is tested with Playwright later.
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { bindForm, LockstepClient, type JsonObject } from "../../src/index.js";
import { FakeNetwork, testEncoding, tick, until } from "./fake-network.js";

interface FakeControl {
  name: string;
  type: string;
  value: string;
  checked: boolean;
}

class FakeForm {
  readonly elements: FakeControl[] = [];
  readonly ownerDocument = { activeElement: null as unknown };
  private readonly listeners = new Map<string, Set<(event: Event) => void>>();

  add(name: string, type = "text", value = ""): FakeControl {
    const control = { name, type, value, checked: false };
    this.elements.push(control);
    return control;
  }

  addEventListener(type: string, listener: (event: Event) => void): void {
    (this.listeners.get(type) ?? this.listeners.set(type, new Set()).get(type)!).add(listener);
  }

  removeEventListener(type: string, listener: (event: Event) => void): void {
    this.listeners.get(type)?.delete(listener);
  }

  listenerCount(): number {
    return [...this.listeners.values()].reduce((n, s) => n + s.size, 0);
  }

  /** A user edit: the control changes, then its event bubbles to the form. */
  type(control: FakeControl, value: string, event = "input"): void {
    control.value = value;
    this.dispatch(event, control);
  }

  click(control: FakeControl): void {
    if (control.type === "radio") {
      for (const other of this.elements.filter((c) => c.name === control.name)) {
        other.checked = other === control;
      }
    } else {
      control.checked = !control.checked;
    }
    this.dispatch("input", control);
    this.dispatch("change", control);
  }

  focus(control: FakeControl | null): void {
    const previous = this.ownerDocument.activeElement;
    this.ownerDocument.activeElement = control;
    if (previous !== null && previous !== control) {
      this.dispatch("focusout", previous);
    }
  }

  dispatch(type: string, target: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) {
      listener({ type, target } as unknown as Event);
    }
  }
}

const clients: LockstepClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
});

async function setUp(doc: JsonObject) {
  const network = new FakeNetwork();
  const client = new LockstepClient({ urls: ["ws://fake/v1/sync"], webSocket: network.WebSocket, encoding: testEncoding });
  clients.push(client);
  await client.start();
  const forms = client.collection("forms");
  const query = forms.subscribe();
  await until("the sub", () => network.last.framesOf("sub").length === 1);
  network.last.deliver({ t: "snapshot", id: `s:${query.name}`, sub: query.name, seq: 1, docs: [{ id: "f1", v: 1, doc }], last: true });
  await query.ready();
  let seq = 1;
  let version = 1;
  /** Another user's change arrives. */
  const remote = (set: JsonObject): void => network.last.deliver({ t: "chg", sub: query.name, seq: ++seq, id: "f1", v: ++version, set });
  /** What the client has sent as patches so far. */
  const patches = (): JsonObject[] => network.last.framesOf("mut").map((m) => (m["ops"] as JsonObject[])[0]!["set"] as JsonObject);
  /** The server confirms this client's last write: its ack, then its own change frame (with its mid). */
  const confirmLast = (): void => {
    const mut = network.last.framesOf("mut").at(-1)!;
    const set = (mut["ops"] as JsonObject[])[0]!["set"] as JsonObject;
    network.last.deliver({ t: "ack", id: mut["id"]!, seq: ++seq, results: [{ collection: "forms", id: "f1", v: ++version }] });
    network.last.deliver({ t: "chg", sub: query.name, seq, id: "f1", v: version, mid: mut["mid"]!, set });
  };
  return { network, client, forms, remote, patches, confirmLast };
}

describe("bindForm", () => {
  test("fills the controls from the document and writes each edit as a one-field patch", async () => {
    const { forms, patches } = await setUp({ title: "Q3", qty: 2, urgent: false, size: "m", address: { city: "Oslo" } });
    const form = new FakeForm();
    const title = form.add("title");
    const qty = form.add("qty", "number");
    const urgent = form.add("urgent", "checkbox");
    const small = form.add("size", "radio", "s");
    const medium = form.add("size", "radio", "m");
    const city = form.add("address.city");
    form.add("unbound", "text", "keep");
    const binding = bindForm(form as unknown as HTMLFormElement, forms, "f1", { fields: ["title", "qty", "urgent", "size", "address.city"] });

    assert.deepEqual([title.value, qty.value, urgent.checked, small.checked, medium.checked, city.value], ["Q3", "2", false, false, true, "Oslo"]);
    form.type(title, "Q4");
    form.type(qty, "5");
    form.click(urgent);
    form.click(small);
    form.type(city, "Bergen");
    form.type(form.elements[6]!, "ignored");
    assert.deepEqual(forms.get("f1"), { title: "Q4", qty: 5, urgent: true, size: "s", address: { city: "Bergen" } }, "shown at once");
    await until("the patches", () => patches().length === 5);
    assert.deepEqual(patches(), [{ title: "Q4" }, { qty: 5 }, { urgent: true }, { size: "s" }, { "address.city": "Bergen" }], "one write per edit; the change after the input adds none");
    binding.dispose();
    assert.equal(form.listenerCount(), 0);
  });

  test("another user's edit shows at once, except in the control being typed in, which catches up on blur", async () => {
    const { forms, remote } = await setUp({ title: "Q3", notes: "" });
    const form = new FakeForm();
    const title = form.add("title");
    const notes = form.add("notes");
    bindForm(form as unknown as HTMLFormElement, forms, "f1");
    form.focus(notes);
    form.type(notes, "my draf");
    remote({ title: "Their title", notes: "their notes" });
    await tick();
    assert.equal(title.value, "Their title");
    assert.equal(notes.value, "my draf", "the focused control is not overwritten");
    form.focus(null);
    await tick();
    assert.equal(notes.value, "my draf", "my pending write still sits on top of theirs");
  });

  test("leaving a field does not write its older value over a newer edit from someone else", async () => {
    const { forms, remote, patches, confirmLast } = await setUp({ title: "Q3" });
    const form = new FakeForm();
    const title = form.add("title");
    bindForm(form as unknown as HTMLFormElement, forms, "f1");
    form.focus(title);
    form.type(title, "mine");
    await until("my patch", () => patches().length === 1);
    confirmLast();
    await until("my write confirmed", () => forms.getVersion("f1") === 2);
    // Someone else edits the same field later; the focused control keeps showing what I typed.
    remote({ title: "theirs" });
    await tick();
    assert.equal(title.value, "mine");
    // Leaving the field fires the browser's `change` for my (already written) edit: it must not be written again.
    form.dispatch("change", title);
    form.focus(null);
    await tick();
    assert.equal(patches().length, 1, "no second write of the older value");
    assert.equal(title.value, "theirs", "the later writer wins");
  });

  test("a control that lost focus shows what arrived meanwhile", async () => {
    const { forms, remote } = await setUp({ title: "Q3" });
    const form = new FakeForm();
    const title = form.add("title");
    bindForm(form as unknown as HTMLFormElement, forms, "f1");
    form.focus(title);
    remote({ title: "Theirs" });
    await tick();
    assert.equal(title.value, "Q3");
    form.focus(null);
    await tick();
    assert.equal(title.value, "Theirs");
  });

  test("a refused edit returns the control to the server's value and is reported", async () => {
    const { network, forms } = await setUp({ title: "Q3" });
    const form = new FakeForm();
    const title = form.add("title");
    const errors: [unknown, string][] = [];
    bindForm(form as unknown as HTMLFormElement, forms, "f1", { onError: (error, field) => errors.push([error, field]) });
    form.type(title, "Q4");
    await until("the mut", () => network.last.framesOf("mut").length === 1);
    const mut = network.last.framesOf("mut")[0]!;
    network.last.deliver({ t: "error", id: mut["id"]!, code: "forbidden", message: "no" });
    await until("the report", () => errors.length === 1);
    assert.equal(errors[0]![1], "title");
    assert.equal((errors[0]![0] as { code: string }).code, "forbidden");
    assert.equal(title.value, "Q3");
  });
});
