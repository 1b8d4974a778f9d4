// Takes the screenshots of the browser samples shown in README.md and docs/client-typescript.md:
// docs/images/collaborative-form.png and docs/images/approval-board.png. It starts `lockstep serve`
// (LOCKSTEP_CLI_DLL, as the tests do) on a free loopback port with a temporary data directory, and
// drives Debian's Chromium with playwright-core. Build the client first (npm run build).
//
//   LOCKSTEP_CLI_DLL=../../src/Lockstep.Cli/bin/Release/net10.0/lockstep.dll node scripts/screenshots.mjs
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const checkout = path.resolve(packageRoot, "../..");
const cliDll = path.resolve(packageRoot, process.env.LOCKSTEP_CLI_DLL ?? "../../src/Lockstep.Cli/bin/Release/net10.0/lockstep.dll");
const images = path.join(checkout, "docs", "images");
const chromiumPath = process.env.LOCKSTEP_CHROMIUM ?? "/usr/bin/chromium";

for (const [what, file] of [["the server (set LOCKSTEP_CLI_DLL)", cliDll], ["the client (npm run build)", path.join(packageRoot, "dist", "index.js")], ["Chromium (apt-get install -y chromium)", chromiumPath]]) {
  if (!existsSync(file)) {
    console.error(`screenshots: ${what} is missing: ${file}`);
    process.exit(1);
  }
}

const port = await new Promise((resolve, reject) => {
  const probe = net.createServer().once("error", reject);
  probe.listen(0, "127.0.0.1", () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});
const base = `http://127.0.0.1:${port}`;
const data = mkdtempSync(path.join(os.tmpdir(), "lockstep-screenshots-"));
const server = spawn("dotnet", [cliDll, "serve", "--urls", base, "--data", data, "--samples", checkout], { stdio: "ignore" });
let browser;
try {
  await waitFor("the server", async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true, 30_000);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const open = async (user, page) => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    context.setDefaultTimeout(10_000);
    const tab = await context.newPage();
    await tab.goto(`${base}/samples/${page}${page.includes("?") ? "&" : "?"}user=${user}`);
    await tab.locator("#status[data-state=online]").waitFor();
    return tab;
  };

  // The form: Ana and Ben fill it in together; Ben's page shows who changed what.
  const ana = await open("ana", "form.html");
  const ben = await open("ben", "form.html");
  const edit = async (tab, field, value) => {
    const control = tab.locator(`#offsite [name="${field}"]`);
    const type = await control.evaluate((e) => e.type);
    if (type === "checkbox") await control.setChecked(true);
    else if (type.startsWith("select")) await control.selectOption(value);
    else await control.fill(value);
    await control.blur();
  };
  for (const [field, value] of [["title", "Team offsite 2026"], ["organizer", "Ana Lima"], ["email", "ana@example.com"], ["startDate", "2026-05-04"], ["endDate", "2026-05-06"], ["budget", "12000"], ["currency", "EUR"], ["confirmed", "true"], ["agenda", "Day 1: strategy and roadmap\nDay 2: hike in Sintra, dinner in Lisbon"]]) {
    await edit(ana, field, value);
  }
  for (const [field, value] of [["city", "Lisbon"], ["venue", "LX Factory, hall B"], ["headcount", "42"], ["transport", "plane"], ["hotel", "Hotel Lumen"], ["rooms", "24"], ["catering", "full board"], ["dietary", "6 vegetarian, 2 gluten-free"]]) {
    await edit(ben, field, value);
  }
  await ben.locator('[data-by="agenda"]', { hasText: "changed by ana" }).waitFor();
  await ben.locator("#pending", { hasText: "all changes saved" }).waitFor();
  await ben.screenshot({ path: path.join(images, "collaborative-form.png"), fullPage: true });

  // The board: requests in every column, and Carol losing a race to Ben.
  const board = {};
  for (const user of ["ana", "ben", "carol"]) board[user] = await open(user, "approvals.html");
  const card = (tab, column, title) => tab.locator(`[data-column=${column}] .card`, { hasText: title });
  const request = async (user, title, amount) => {
    await board[user].fill("#new-request [name=title]", title);
    await board[user].fill("#new-request [name=amount]", String(amount));
    await board[user].click("#new-request button[type=submit]");
    await card(board[user], "draft", title).waitFor();
  };
  const move = async (user, title, from, action, to) => {
    await card(board[user], from, title).locator(`button[data-action=${action}]`).click();
    await card(board[user], to, title).waitFor();
  };
  await request("ana", "Team dinner in Lisbon", 950);
  await move("ana", "Team dinner in Lisbon", "draft", "submit", "submitted");
  await move("carol", "Team dinner in Lisbon", "submitted", "reject", "rejected");
  await request("ana", "Conference tickets", 2400);
  await request("carol", "Standing desks (4)", 3200);
  await move("carol", "Standing desks (4)", "draft", "submit", "submitted");
  await request("ben", "Design tool licences", 1200);
  await move("ben", "Design tool licences", "draft", "submit", "submitted");
  await request("ana", "Laptop for Ana", 1800);
  await move("ana", "Laptop for Ana", "draft", "submit", "submitted");
  for (const user of ["ben", "carol"]) await card(board[user], "submitted", "Laptop for Ana").waitFor();
  // Ben and Carol approve the laptop at the same instant; one of them is told it was already decided.
  const at = Date.now() + 300;
  await Promise.all(["ben", "carol"].map((user) => card(board[user], "submitted", "Laptop for Ana").locator("button[data-action=approve]").evaluate((button, when) => setTimeout(() => button.click(), when - Date.now()), at)));
  let loser;
  await waitFor("the race to be decided", async () => {
    for (const user of ["ben", "carol"]) {
      if ((await board[user].locator("#message").textContent()).startsWith("Conflict:")) loser = user;
    }
    return loser !== undefined;
  }, 10_000);
  await board[loser].locator("[data-column=approved] .card", { hasText: "Laptop for Ana" }).waitFor();
  await board[loser].locator("#pending", { hasText: "all changes saved" }).waitFor();
  await board[loser].screenshot({ path: path.join(images, "approval-board.png"), fullPage: true });

  for (const file of ["collaborative-form.png", "approval-board.png"]) {
    console.log(`screenshots: docs/images/${file} (${Math.round(statSync(path.join(images, file)).size / 1024)} KB)`);
  }
} finally {
  await browser?.close();
  server.kill("SIGTERM");
  await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.once("exit", resolve)));
  rmSync(data, { recursive: true, force: true });
}

async function waitFor(what, condition, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`screenshots: timed out waiting for ${what}`);
}
