// An interactive-style terminal session: a login shell on a PTY, typed into line by line.
//
//   export SANDPIT_URL=http://localhost:3000 SANDPIT_API_KEY=e2b_…
//   npx tsx examples/pty-session.ts
import { Sandbox } from "@sandpit/sdk";

const sandbox = await Sandbox.create({ timeoutMs: 120_000 });
try {
  const decoder = new TextDecoder();
  let screen = "";
  const terminal = await sandbox.pty.create({
    cols: 100,
    rows: 30,
    timeoutMs: 0,
    onData: (bytes) => {
      const text = decoder.decode(bytes, { stream: true });
      screen += text;
      process.stdout.write(text);
    },
  });

  // Waits until the screen shows `marker`, the way a person waits for a prompt.
  const waitFor = async (marker: string) => {
    const deadline = Date.now() + 10_000;
    while (!screen.includes(marker)) {
      if (Date.now() > deadline) throw new Error(`no "${marker}" on the screen`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const type = (line: string) => sandbox.pty.sendInput(terminal.pid, new TextEncoder().encode(`${line}\n`));

  await type("echo ready-$((6*7))");
  await waitFor("ready-42");
  await type("cd /tmp && printf 'hello from the terminal\\n' > note.txt && cat note.txt");
  await waitFor("hello from the terminal\r\n");
  await sandbox.pty.resize(terminal.pid, { cols: 132, rows: 40 });
  await type("echo cols=$(tput cols)");
  await waitFor("cols=132");
  await type("exit");
  await terminal.wait({ throwOnError: false });
  console.log("\nsession closed");
} finally {
  await sandbox.kill();
}
