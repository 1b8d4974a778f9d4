// Copies @msgpack/msgpack's ES modules into dist/vendor/msgpack/, so a page that imports the client
// from dist/ without a bundler (the samples: lockstep serve --samples serves dist/ at /samples/lib/)
// can map the bare specifier "@msgpack/msgpack" to them with an import map. Only the MessagePack
// encoding loads it. npm consumers resolve the dependency themselves: dist/vendor/ is not published.
import { cpSync, existsSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const from = path.join(root, "node_modules", "@msgpack", "msgpack", "dist.esm");
const to = path.join(root, "dist", "vendor", "msgpack");
if (!existsSync(from)) {
  console.error(`no ${from}: run npm ci first`);
  process.exit(1);
}
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true, filter: (source) => !/\.(d\.ts|map|tsbuildinfo)$/.test(source) });
cpSync(path.join(root, "node_modules", "@msgpack", "msgpack", "LICENSE"), path.join(to, "LICENSE"));
