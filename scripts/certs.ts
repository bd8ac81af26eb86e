/**
 * certs manages the mesh's local CA in `PKI_DIR` (default `.data/pki`):
 *
 *   npm run certs                                  # create the CA if missing, (re)issue service certificates as needed
 *   npm run certs -- client alice [--role admin]   # an operator certificate for grpcurl (role reader by default)
 *   npm run certs -- rotate                        # re-issue every service certificate now (running services reload)
 *   npm run certs -- broker                        # the Kafka broker's TLS listener: brokers/kafka.pem (kafka.sh runs it)
 */
import path from "node:path";
import { OPERATOR_ROLES, type OperatorRole } from "#shared/security/identity.js";
import { pkiDir } from "#shared/security/pki-layout.js";
import { checkOperator, ensureMeshPki, issueBroker, issueOperator, rotate, type PkiReport } from "#shared/security/pki.js";

const USAGE = `usage: npm run certs [-- rotate | -- broker | -- client <name> [--role ${OPERATOR_ROLES.join("|")}]]`;

type Command = { kind: "ensure" } | { kind: "rotate" } | { kind: "broker" } | { kind: "client"; name: string; role: OperatorRole };

/** parseCommand reads the arguments after `npm run certs --`; it throws with what is wrong. */
function parseCommand(args: readonly string[]): Command {
  const [verb, ...rest] = args;
  if (verb === undefined) return { kind: "ensure" };
  if (verb === "rotate" || verb === "broker") {
    if (rest.length > 0) throw new Error(`${verb} takes no arguments, got "${rest.join(" ")}"`);
    return { kind: verb };
  }
  if (verb !== "client") throw new Error(`unknown command "${verb}"`);
  const [name, ...options] = rest;
  if (name === undefined || name.startsWith("-")) throw new Error("client needs a name: npm run certs -- client <name>");
  let role = "reader";
  for (let i = 0; i < options.length; i++) {
    const option = options[i] ?? "";
    const [flag, inline] = option.split("=", 2) as [string, string | undefined];
    if (flag !== "--role") throw new Error(`unknown option "${option}"`);
    const value = inline ?? options[++i];
    if (value === undefined) throw new Error(`--role needs a value: ${OPERATOR_ROLES.join(" or ")}`);
    role = value;
  }
  checkOperator(name, role);
  return { kind: "client", name, role };
}

function printReport(report: PkiReport): void {
  console.log(`certs: PKI in ${shown(report.dir)}`);
  for (const change of report.changes) console.log(`  ${change.subject.padEnd(9)} ${change.action.padEnd(7)} ${change.reason}`);
}

/** shown is a path relative to the working directory when it lies inside it, as people type it. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

let command: Command;
try {
  command = parseCommand(process.argv.slice(2));
} catch (error) {
  console.error(`certs: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}

const dir = pkiDir();
try {
  if (command.kind === "rotate") {
    printReport(await rotate(dir));
  } else {
    printReport(await ensureMeshPki(dir));
    if (command.kind === "broker") {
      const issued = await issueBroker(dir);
      console.log(`certs: Kafka broker certificate for ${issued.id}, valid until ${issued.notAfter.toISOString()}`);
      console.log(`  keystore (PEM): ${shown(issued.files.keystore)}  truststore (PEM): ${shown(issued.files.ca)}`);
    }
    if (command.kind === "client") {
      const issued = await issueOperator(dir, command.name, command.role);
      const { ca, cert, key } = issued.files;
      console.log(`certs: ${command.role} certificate for ${issued.id}, valid until ${issued.notAfter.toISOString()}`);
      console.log(`  grpcurl flags: -cacert ${shown(ca)} -cert ${shown(cert)} -key ${shown(key)}`);
      console.log(`  e.g. .tools/bin/grpcurl -cacert ${shown(ca)} -cert ${shown(cert)} -key ${shown(key)} 127.0.0.1:50051 list`);
    }
  }
} catch (error) {
  console.error(`certs: ${(error as Error).message}`);
  process.exit(1);
}
