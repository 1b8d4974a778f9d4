// Browser-test helpers: Debian's Chromium driven by playwright-core (no browser downloads), one
// browser context per user, and a record of what went wrong inside each page.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { testEncoding } from "../integration/harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, from clients/typescript/.test-build/test/browser: what `lockstep serve --samples` takes. */
export const checkout = path.resolve(here, "../../../../..");

/** Debian's package `chromium`; scripts/ci.sh installs it when missing. */
export const chromiumPath = process.env["LOCKSTEP_CHROMIUM"] ?? "/usr/bin/chromium";

/** Every Playwright wait in these tests is bounded by this, unless a test says otherwise. */
export const waitMs = 10_000;

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`There is no Chromium at ${chromiumPath}: apt-get install -y chromium (scripts/ci.sh does), or set LOCKSTEP_CHROMIUM.`);
  }
  // playwright-core gives every launch a fresh, temporary user-data directory of its own.
  return chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 30_000,
  });
}

/** One person: a browser context of their own (own IndexedDB, own network switch) and the pages they opened. */
export class User {
  /** Uncaught exceptions in the pages, and errors the client logged. */
  readonly problems: string[] = [];

  private constructor(
    readonly name: string,
    readonly context: BrowserContext,
    private readonly baseUrl: string,
  ) {}

  static async create(browser: Browser, name: string, baseUrl: string): Promise<User> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(waitMs);
    return new User(name, context, baseUrl);
  }

  /**
   * Opens a sample page (`form.html?form=x`) as this user, in the run's encoding (LOCKSTEP_ENCODING,
   * as `?encoding=`), and waits until its client is online — and has said it connected in that encoding.
   */
  async open(pageAndQuery: string): Promise<Page> {
    const page = await this.context.newPage();
    const connected: string[] = [];
    page.on("console", (message) => {
      if (message.text().startsWith("lockstep: connected to ")) {
        connected.push(message.text());
      }
    });
    page.on("pageerror", (error) => this.problems.push(`${this.name}: uncaught ${error.message}`));
    page.on("console", (message) => {
      // Refused writes are warnings (a lost race is one); an error from the client is a fault.
      if (message.type() === "error" && message.text().startsWith("lockstep:")) {
        this.problems.push(`${this.name}: ${message.text()}`);
      }
    });
    const separator = pageAndQuery.includes("?") ? "&" : "?";
    await page.goto(`${this.baseUrl}/samples/${pageAndQuery}${separator}user=${encodeURIComponent(this.name)}&encoding=${testEncoding}`);
    await page.locator("#status[data-state=online]").waitFor();
    const deadline = Date.now() + waitMs;
    while (!connected.some((line) => line.includes(`(${testEncoding}, head`))) {
      if (Date.now() > deadline) {
        throw new Error(`${this.name}'s page did not connect in ${testEncoding}: ${connected.join(" | ") || "no connection logged"}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return page;
  }

  close(): Promise<void> {
    return this.context.close();
  }
}
