/**
 * `npm run lab -- <scenario>|all [--short]`: runs fault labs, each on its own broker and ports, and exits 0 when every
 * lab's reconciliation passed, 1 otherwise. Reports go to labs/results/ (short runs: labs/results/tmp/).
 */
import { runLab } from "./run-lab.js";
import { SCENARIOS } from "./scenarios/index.js";

const USAGE = `usage: npm run lab -- <scenario>|all [--short]\n${SCENARIOS.map((s) => `  ${s.name.padEnd(14)}${s.summary}`).join("\n")}`;

async function main(argv: string[]): Promise<number> {
  const short = argv.includes("--short");
  const names = argv.filter((a) => a !== "--short");
  if (names.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  const chosen = names[0] === "all" ? SCENARIOS : SCENARIOS.filter((s) => s.name === names[0]);
  if (chosen.length === 0) {
    console.error(`unknown scenario "${names[0]}"\n${USAGE}`);
    return 2;
  }
  const verdicts: string[] = [];
  let failed = 0;
  for (const scenario of chosen) {
    try {
      const { result, files } = await runLab(scenario, { short, log: (line) => console.log(line) });
      for (const check of result.verdict.checks) console.log(`  ${check.ok ? "pass" : "FAIL"}  ${check.name}: ${check.summary}`);
      console.log(`  report: ${files.markdown}`);
      if (!result.verdict.ok) failed++;
      verdicts.push(
        `${result.verdict.ok ? "PASS" : "FAIL"}  ${scenario.name}${!result.verdict.ok && scenario.knownIssue ? ` (known: ${scenario.knownIssue})` : ""}`,
      );
    } catch (error) {
      failed++;
      verdicts.push(`ERROR ${scenario.name}: ${error instanceof Error ? error.message : String(error)}`);
      console.error(error);
    }
  }
  console.log(`\n${verdicts.join("\n")}`);
  return failed === 0 ? 0 : 1;
}

// exit, not exitCode: every lab has released what it started, and a library handle left open must not keep the CLI alive.
process.exit(await main(process.argv.slice(2)));
