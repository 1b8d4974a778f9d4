// The browser samples (samples/web) end to end: the real server serves them, Debian's Chromium runs
// them, one browser context per person, and the tests look at what the pages show. The pages use the
// SDK as shipped (dist/, the IndexedDB store, bindForm); only the network is switched off and on.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { LockstepServer, testEncoding, waitFor } from "../integration/harness.js";
import { checkout, launchChromium, User, waitMs } from "./browser.js";

let unique = 0;
function name(prefix: string): string {
  return `${prefix}-${process.pid}-${++unique}`;
}

// ---- what a page shows ----

/** Waits until `condition(arg)`, run in the page, holds; the error names what was awaited. */
async function until<A>(page: Page, what: string, condition: (arg: A) => boolean, arg: A, timeout = waitMs): Promise<void> {
  try {
    // Plain JSON arguments only, so the page receives `arg` as it is.
    await page.waitForFunction(condition as (arg: unknown) => boolean, arg as unknown, { timeout, polling: 25 });
  } catch (error) {
    throw new Error(`Timed out after ${timeout} ms waiting until ${what}: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** The form's controls as the page shows them: name → value (checkboxes: "true"/"false"). */
function shownValues(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() =>
    Object.fromEntries(
      Array.from((document.getElementById("offsite") as HTMLFormElement).elements, (e) => {
        const control = e as HTMLInputElement;
        return [control.name, control.type === "checkbox" ? String(control.checked) : control.value];
      }),
    ),
  );
}

/** The "changed by …" line under each field: name → text. */
function shownAuthors(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() => Object.fromEntries(Array.from(document.querySelectorAll<HTMLElement>("[data-by]"), (line) => [line.dataset["by"]!, line.textContent ?? ""])));
}

/** Waits until the page shows `value` in field `field`, and under it "changed by `author`". */
async function shows(page: Page, field: string, value: string, author: string): Promise<void> {
  await until(
    page,
    `the page shows ${field} = ${JSON.stringify(value)} changed by ${author}`,
    ([f, v, a]) => {
      const control = (document.getElementById("offsite") as HTMLFormElement).elements.namedItem(f) as HTMLInputElement;
      const shown = control.type === "checkbox" ? String(control.checked) : control.value;
      return shown === v && document.querySelector(`[data-by="${f}"]`)?.textContent === `changed by ${a}`;
    },
    [field, value, author] as const,
  );
}

/** Edits a field as a person does (the control gets focus, changes, loses focus). */
async function edit(page: Page, field: string, value: string): Promise<void> {
  const control = page.locator(`#offsite [name="${field}"]`);
  const type = await control.evaluate((e) => (e as HTMLInputElement).type);
  if (type === "checkbox") {
    await control.setChecked(value === "true");
  } else if (type.startsWith("select")) {
    await control.selectOption(value);
  } else {
    await control.fill(value);
  }
  await control.blur();
}

async function allSaved(page: Page): Promise<void> {
  await page.locator("#pending", { hasText: "all changes saved" }).waitFor();
}

/** The writes this page's client keeps in IndexedDB until the server confirms them. */
function queuedInIndexedDb(page: Page): Promise<number> {
  return page.evaluate(
    () =>
      new Promise<number>((resolve, reject) => {
        const open = indexedDB.open("lockstep-samples");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const count = open.result.transaction("pending").objectStore("pending").count();
          count.onsuccess = () => {
            open.result.close();
            resolve(count.result);
          };
          count.onerror = () => reject(count.error);
        };
      }),
  );
}

/** Takes the user's network away and waits until the page says it is not online. */
async function goOffline(user: User, page: Page): Promise<void> {
  await user.context.setOffline(true);
  // A dead network sends no error: the client notices the silence after two 2-second heartbeats.
  await page.locator("#status:not([data-state=online])").waitFor({ timeout: 15_000 });
}

describe(`browser samples, served by lockstep serve, in Chromium (${testEncoding})`, () => {
  let server: LockstepServer;
  let browser: Browser;
  const users: User[] = [];

  async function user(person: string): Promise<User> {
    const made = await User.create(browser, person, server.httpUrl);
    users.push(made);
    return made;
  }

  async function closeUsers(): Promise<void> {
    const problems = users.flatMap((u) => u.problems);
    await Promise.all(users.splice(0).map((u) => u.close()));
    assert.deepEqual(problems, [], "no page threw, and no client logged an error");
  }

  before(async () => {
    // No --strict: serving the samples makes `approvals` strict by itself.
    [server, browser] = await Promise.all([LockstepServer.start({ args: ["--samples", checkout] }), launchChromium()]);
  });

  after(async () => {
    await Promise.all(users.splice(0).map((u) => u.close()));
    await browser?.close();
    await server?.dispose();
  });

  test("the samples are served at /samples/ with the client library at /samples/lib/, and the form has 20 fields", async () => {
    const index = await fetch(`${server.httpUrl}/samples/`);
    assert.equal(index.status, 200);
    const html = await index.text();
    assert.match(html, /href="form\.html"/);
    assert.match(html, /href="approvals\.html"/);
    const library = await fetch(`${server.httpUrl}/samples/lib/index.js`);
    assert.equal(library.status, 200);
    assert.match(library.headers.get("content-type") ?? "", /javascript/);
    assert.match(await library.text(), /export \{ LockstepClient \}/);
    // Only the two folders: nothing above them, nothing else under /samples.
    assert.equal((await fetch(`${server.httpUrl}/samples/lib/../package.json`)).status, 404);
    assert.equal((await fetch(`${server.httpUrl}/samples/Lockstep.slnx`)).status, 404);

    const ana = await user("ana");
    const page = await ana.open(`form.html?form=${name("count")}`);
    assert.equal(await page.locator("#offsite [name]").count(), 20);
    assert.equal(await page.inputValue("#user"), "ana");
    await closeUsers();
  });

  test("two people editing different fields at once both keep their edits, each field showing who changed it", async () => {
    const form = `form.html?form=${name("different")}`;
    const [ana, ben] = await Promise.all([user("ana"), user("ben")]);
    const [a, b] = await Promise.all([ana.open(form), ben.open(form)]);
    const anaEdits: Record<string, string> = { title: "Team offsite 2026", organizer: "Ana Lima", email: "ana@example.com", startDate: "2026-05-04", budget: "12000" };
    const benEdits: Record<string, string> = { city: "Lisbon", venue: "Old mill", headcount: "42", currency: "EUR", confirmed: "true" };

    await Promise.all([
      (async () => {
        for (const [field, value] of Object.entries(anaEdits)) await edit(a, field, value);
      })(),
      (async () => {
        for (const [field, value] of Object.entries(benEdits)) await edit(b, field, value);
      })(),
    ]);

    for (const page of [a, b]) {
      for (const [field, value] of Object.entries(anaEdits)) await shows(page, field, value, "ana");
      for (const [field, value] of Object.entries(benEdits)) await shows(page, field, value, "ben");
    }
    await Promise.all([allSaved(a), allSaved(b)]);
    const [shownA, shownB] = await Promise.all([shownValues(a), shownValues(b)]);
    assert.deepEqual(shownA, shownB, "both pages show the same form");
    const authors = await shownAuthors(a);
    assert.equal(authors["notes"], "", "an untouched field names nobody");
    const stored = await server.get("forms", form.split("=")[1]!);
    assert.deepEqual(stored?.["_by"], { title: "ana", organizer: "ana", email: "ana", startDate: "ana", budget: "ana", city: "ben", venue: "ben", headcount: "ben", currency: "ben", confirmed: "ben" });
    assert.equal(stored?.["budget"], 12000, "a number field is stored as a number");
    assert.equal(stored?.["confirmed"], true, "a checkbox is stored as a boolean");
    await closeUsers();
  });

  test("on the same field the last writer wins, on both pages", async () => {
    const id = name("same");
    const form = `form.html?form=${id}`;
    const [ana, ben] = await Promise.all([user("ana"), user("ben")]);
    const [a, b] = await Promise.all([ana.open(form), ben.open(form)]);

    // At the same moment: whichever reaches the server last wins, and both pages agree on it.
    await Promise.all([edit(a, "title", "Offsite by Ana"), edit(b, "title", "Offsite by Ben")]);
    const deadline = Date.now() + waitMs;
    let agreed: { value: string; author: string } | undefined;
    while (Date.now() < deadline && agreed === undefined) {
      const [va, vb, wa, wb] = await Promise.all([shownValues(a), shownValues(b), shownAuthors(a), shownAuthors(b)]);
      if (va["title"] === vb["title"] && wa["title"] === wb["title"] && (await server.get("forms", id))?.["title"] === va["title"]) {
        agreed = { value: va["title"]!, author: wa["title"]! };
      } else {
        await a.waitForTimeout(25);
      }
    }
    assert.ok(agreed !== undefined, "both pages converge on one title");
    assert.ok(
      (agreed.value === "Offsite by Ana" && agreed.author === "changed by ana") || (agreed.value === "Offsite by Ben" && agreed.author === "changed by ben"),
      `the title and its author win together: ${JSON.stringify(agreed)}`,
    );

    // One after the other: the later one wins.
    await edit(a, "title", "Offsite, final");
    await shows(b, "title", "Offsite, final", "ana");
    await edit(b, "title", "Offsite, final final");
    await shows(a, "title", "Offsite, final final", "ben");
    await shows(b, "title", "Offsite, final final", "ben");
    await closeUsers();
  });

  test("edits made offline are kept in IndexedDB and merge when the page is back online", async () => {
    const id = name("offline");
    const form = `form.html?form=${id}`;
    const [ana, ben] = await Promise.all([user("ana"), user("ben")]);
    const [a, b] = await Promise.all([ana.open(form), ben.open(form)]);
    await edit(a, "title", "Offsite");
    await shows(b, "title", "Offsite", "ana");

    await goOffline(ana, a);
    await edit(a, "venue", "Harbour hall");
    await edit(a, "agenda", "Day 1: strategy\nDay 2: hike");
    await edit(b, "city", "Porto");
    await allSaved(b);
    // Each side shows its own edits only; Ana's wait in her browser, not in memory alone.
    await a.locator("#pending", { hasText: "2 changes waiting to be sent" }).waitFor();
    await shows(a, "venue", "Harbour hall", "ana");
    assert.equal(await queuedInIndexedDb(a), 2, "the two offline edits are queued in IndexedDB");
    assert.equal((await shownValues(a))["city"], "", "offline, Ana does not see Ben's edit");
    assert.equal((await shownValues(b))["venue"], "", "Ben does not see Ana's offline edits");

    await ana.context.setOffline(false);
    await a.locator("#status[data-state=online]").waitFor({ timeout: 15_000 });
    await shows(a, "city", "Porto", "ben");
    await shows(b, "venue", "Harbour hall", "ana");
    await shows(b, "agenda", "Day 1: strategy\nDay 2: hike", "ana");
    await allSaved(a);
    assert.equal(await queuedInIndexedDb(a), 0, "confirmed writes leave the queue");
    assert.deepEqual(await shownValues(a), await shownValues(b), "both pages show the same form");
    const writes = (await server.changes()).filter((c) => c.collection === "forms" && c.id === id);
    assert.equal(writes.length, 4, "each edit applied exactly once (title, venue, agenda, city)");
    await closeUsers();
  });

  test("an edit made offline survives closing the tab: the next page opened sends it from IndexedDB", async () => {
    const id = name("closed");
    const form = `form.html?form=${id}`;
    const [dora, ben] = await Promise.all([user("dora"), user("ben")]);
    const [d, b] = await Promise.all([dora.open(form), ben.open(form)]);
    await goOffline(dora, d);
    await edit(d, "hotel", "Pousada do Porto");
    await d.locator("#pending", { hasText: "1 change waiting to be sent" }).waitFor();
    await waitFor("the edit to be queued in IndexedDB", async () => (await queuedInIndexedDb(d)) === 1);
    await d.close();

    await dora.context.setOffline(false);
    const again = await dora.open(form);
    await shows(again, "hotel", "Pousada do Porto", "dora");
    await shows(b, "hotel", "Pousada do Porto", "dora");
    await allSaved(again);
    const hotelWrites = (await server.changes()).filter((c) => c.collection === "forms" && c.id === id);
    assert.equal(hotelWrites.length, 1, "the queued edit was applied exactly once");
    await closeUsers();
  });

  test("two approvers decide the same request at once: exactly one wins, the other sees the conflict and the current state, a third page sees the move", async () => {
    const title = `Laptop for Ana ${name("r")}`;
    const [ana, ben, carol] = await Promise.all([user("ana"), user("ben"), user("carol")]);
    const [a, b, c] = await Promise.all([ana.open("approvals.html"), ben.open("approvals.html"), carol.open("approvals.html")]);
    const card = (page: Page, column: string) => page.locator(`[data-column=${column}] .card`, { hasText: title });

    await a.fill("#new-request [name=title]", title);
    await a.fill("#new-request [name=amount]", "1800");
    await a.click("#new-request button[type=submit]");
    await card(a, "draft").locator("button[data-action=submit]").click();
    for (const page of [a, b, c]) {
      await card(page, "submitted").locator("button[data-action=approve]").waitFor();
    }

    // Both click Approve at the same instant: each page's own timer clicks at one wall-clock time.
    const at = Date.now() + 300;
    await Promise.all(
      [b, c].map((page) =>
        card(page, "submitted")
          .locator("button[data-action=approve]")
          .evaluate((button, when) => setTimeout(() => (button as HTMLButtonElement).click(), when - Date.now()), at),
      ),
    );

    const message = (page: Page) => page.locator("#message").textContent();
    await until(b, "Ben's page has a message", () => document.getElementById("message")!.textContent !== "", null);
    await until(c, "Carol's page has a message", () => document.getElementById("message")!.textContent !== "", null);
    const [mb, mc] = await Promise.all([message(b), message(c)]);
    const outcomes = [
      { page: b, who: "ben", text: mb ?? "" },
      { page: c, who: "carol", text: mc ?? "" },
    ];
    const winners = outcomes.filter((o) => o.text === `“${title}” is approved.`);
    const losers = outcomes.filter((o) => o.text.startsWith("Conflict:"));
    assert.equal(winners.length, 1, `exactly one approver wins: ${JSON.stringify(outcomes.map((o) => o.text))}`);
    assert.equal(losers.length, 1, "the other sees a conflict");
    const winner = winners[0]!.who;
    assert.equal(
      losers[0]!.text,
      `Conflict: “${title}” was already approved by ${winner} (version 3). Your approve was not applied (version_conflict).`,
      "the loser is told who decided, and that the server refused the stale version",
    );

    // Every page, the loser's and the requester's too, shows the request approved by the winner.
    for (const page of [a, b, c]) {
      await card(page, "approved").locator(".by", { hasText: `approved by ${winner} · version 3` }).waitFor();
      assert.equal(await card(page, "submitted").count(), 0);
    }
    // The refused write is no longer waiting to be sent.
    await allSaved(losers[0]!.page);
    const requests = await server.list("approvals");
    const stored = [...requests.values()].find((r) => r.doc["title"] === title)!;
    assert.equal(stored.v, 3);
    assert.equal(stored.doc["status"], "approved");
    assert.equal(stored.doc["by"], winner);
    await closeUsers();
  });

  test("serving the samples makes approvals strict: a write without the version it was based on is refused", async () => {
    const id = name("blind");
    await server.put("approvals", id, { title: "Chair", status: "draft" });
    const blind = await fetch(`${server.httpUrl}/v1/collections/approvals/docs/${id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/merge-patch+json" },
      body: JSON.stringify({ status: "approved" }),
    });
    assert.equal(blind.status, 428);
    assert.equal(((await blind.json()) as { code: string }).code, "precondition_required");
  });
});

describe("lockstep serve --samples", () => {
  test("without a built client, /samples/ says how to build it; with 'off', there is nothing at /samples/", async () => {
    const bare = mkdtempSync(path.join(os.tmpdir(), "lockstep-bare-checkout-"));
    mkdirSync(path.join(bare, "samples", "web"), { recursive: true });
    writeFileSync(path.join(bare, "samples", "web", "index.html"), "<!doctype html><title>x</title>");
    const unbuilt = await LockstepServer.start({ args: ["--samples", bare] });
    const off = await LockstepServer.start({ args: ["--samples", "off"] });
    try {
      for (const url of ["/samples/", "/samples/form.html", "/samples/lib/index.js"]) {
        const response = await fetch(`${unbuilt.httpUrl}${url}`);
        assert.equal(response.status, 503, url);
        assert.match(response.headers.get("content-type") ?? "", /text\/html/);
        assert.ok((await response.text()).includes("npm --prefix clients/typescript ci &amp;&amp; npm --prefix clients/typescript run build"), url);
      }
      assert.equal((await fetch(`${off.httpUrl}/samples/`)).status, 404);
      // Not serving the samples leaves approvals as any other collection.
      await off.put("approvals", "a1", { status: "draft" });
      await off.put("approvals", "a1", { status: "approved" });
    } finally {
      await Promise.all([unbuilt.dispose(), off.dispose()]);
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
