// A real weft serve for the tests: $WEFT_BIN (make test-ts builds it) on a
// loopback port over a temporary folder.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export async function startServer(...args) {
  const bin = process.env.WEFT_BIN;
  if (!bin) throw new Error("set WEFT_BIN to a weft binary (make test-ts does)");
  const data = mkdtempSync(join(tmpdir(), "weft-ts-"));
  const proc = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data", data, "--log-format", "json", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("weft serve did not start within 30 s")), 30_000);
    createInterface({ input: proc.stderr }).on("line", (line) => {
      try {
        const rec = JSON.parse(line);
        if (rec.msg === "weft serve listening") {
          clearTimeout(timer);
          resolve("http://" + rec.addr);
        }
      } catch {}
    });
    proc.on("exit", (code) => reject(new Error(`weft serve exited with ${code}`)));
  });
  return { addr, stop: () => proc.kill("SIGKILL") };
}

export function keyFile(key) {
  const f = join(mkdtempSync(join(tmpdir(), "weft-key-")), "key");
  writeFileSync(f, key);
  return f;
}
