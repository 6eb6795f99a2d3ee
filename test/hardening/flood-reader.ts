// Reads a flood of output from a sandbox in a process of its own, as a real client would: the
// client's decoding work then does not run on the server's event loop and skew what is measured.
// Usage: node --import tsx flood-reader.ts <sandboxId> <bytes>; prints {"received":n,"ms":t}.
import { Sandbox } from "e2b";

const [sandboxId, bytesText] = process.argv.slice(2);
if (!sandboxId || !bytesText) throw new Error("usage: flood-reader.ts <sandboxId> <bytes>");
const bytes = Number(bytesText);
const sbx = await Sandbox.connect(sandboxId);
let received = 0;
const started = performance.now();
await sbx.commands.run(`head -c ${bytes} /dev/zero | tr '\\0' 'a'`, {
  timeoutMs: 600_000,
  onStdout: (chunk) => {
    received += chunk.length;
  },
});
process.stdout.write(`${JSON.stringify({ received, ms: performance.now() - started })}\n`);
