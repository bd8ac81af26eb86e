/** scripts/certs.ts (`npm run certs`) as a user runs it: a real process on a temp PKI_DIR. */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../mesh/child.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "shopmesh-certs-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function certs(...args: string[]): Promise<Run> {
  const script = path.join(ROOT, "scripts", "certs.ts");
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: ROOT,
      env: { ...process.env, PKI_DIR: dir },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

describe("npm run certs", () => {
  it("when run with no arguments on an empty PKI_DIR, then it creates the CA and the four service leaves and says where", async () => {
    const run = await certs();

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`certs: PKI in ${dir}`);
    expect(run.stdout).toMatch(/ca +created +missing/);
    for (const name of ["order", "payment", "inventory", "gateway"]) expect(run.stdout).toMatch(new RegExp(`${name} +issued +missing`));
  });

  it("when asked for a client without a role, then it issues a reader certificate and prints the grpcurl flags", async () => {
    const run = await certs("client", "alice");

    expect(run.code).toBe(0);
    expect(run.stdout).toContain("reader certificate for spiffe://shopmesh.local/operator/reader/alice");
    const clients = path.join(dir, "clients");
    expect(run.stdout).toContain(`grpcurl flags: -cacert ${dir}/ca.crt -cert ${clients}/alice.crt -key ${clients}/alice.key`);
    const cert = new X509Certificate(await readFile(path.join(clients, "alice.crt")));
    expect(cert.subjectAltName).toBe("URI:spiffe://shopmesh.local/operator/reader/alice");
  });

  it("when asked to rotate, then every service leaf gets a new serial", async () => {
    const before = new X509Certificate(await readFile(path.join(dir, "services", "order.crt"))).serialNumber;

    const run = await certs("rotate");

    expect(run.code).toBe(0);
    const after = new X509Certificate(await readFile(path.join(dir, "services", "order.crt"))).serialNumber;
    expect(run.stdout).toMatch(new RegExp(`order +issued +rotated; serial ${after}`));
    expect(after).not.toBe(before);
  });

  it.each([
    [["frob"], 'unknown command "frob"'],
    [["client", "Bob"], 'operator name "Bob" is not valid'],
    [["client", "bob", "--role", "root"], 'operator role "root" is not valid: use reader or admin'],
  ])("when the arguments are %j, then it exits 2 saying what is wrong and how to call it", async (args, message) => {
    const run = await certs(...args);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`certs: ${message}`);
    expect(run.stderr).toContain("usage: npm run certs");
  });
});
