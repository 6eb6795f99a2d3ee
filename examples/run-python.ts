// Run Python code in a sandbox and read the file it wrote.
//
//   export SANDPIT_URL=http://localhost:3000 SANDPIT_API_KEY=e2b_…   (or E2B_API_URL/E2B_SANDBOX_URL/E2B_API_KEY)
//   npx tsx examples/run-python.ts
import { Sandbox } from "@sandpit/sdk";

const code = `
import json, math, platform
primes = [n for n in range(2, 60) if all(n % d for d in range(2, math.isqrt(n) + 1))]
with open("/home/user/out/result.json", "w") as f:
    json.dump({"python": platform.python_version(), "primes": primes}, f)
print(f"found {len(primes)} primes")
`;

const sandbox = await Sandbox.create({ timeoutMs: 120_000 });
try {
  await sandbox.files.write("/home/user/job.py", code);
  await sandbox.files.makeDir("/home/user/out");
  const run = await sandbox.commands.run("python3 /home/user/job.py");
  console.log(`python said: ${run.stdout.trim()}`);
  const result = JSON.parse(await sandbox.files.read("/home/user/out/result.json")) as {
    python: string;
    primes: number[];
  };
  console.log(`python ${result.python} computed primes: ${result.primes.join(" ")}`);
} finally {
  await sandbox.kill();
}
