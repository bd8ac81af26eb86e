/**
 * The mesh's local CA (security/pki.ts) and the certificate provider that reads it (security/certificates.ts), on
 * real files in temp folders: what gets issued and reissued, what the certificates say, and that a rotation seen
 * half-way (a new certificate with the old key) never reaches grpc-js.
 */
import { execFile, spawn } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { copyFile, mkdtemp, readFile, readdir, rm, stat, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MeshCertificates, type CertificateSet } from "#shared/security/certificates.js";
import { KAFKA_BROKER_ID, MESH_SERVICES, operatorId, serviceId } from "#shared/security/identity.js";
import { brokerFiles, caFiles, operatorFiles, serviceFiles } from "#shared/security/pki-layout.js";
import { ensureMeshPki, issueBroker, issueOperator, rotate, type PkiReport } from "#shared/security/pki.js";
import { ROOT } from "../../../scripts/mesh/child.js";
import { memoryLogger, until } from "./fixtures/grpc-harness.js";

const HOUR_MS = 3_600_000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

const folders: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "shopmesh-pki-"));
  folders.push(dir);
  return dir;
}
const cleanups: (() => void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await Promise.all(folders.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function certAt(file: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(file));
}

function actions(report: PkiReport): Record<string, string> {
  return Object.fromEntries(report.changes.map((c) => [c.subject, c.action]));
}

function reasonOf(report: PkiReport, subject: string): string {
  return report.changes.find((c) => c.subject === subject)?.reason ?? "";
}

describe("ensureMeshPki", () => {
  let dir: string;
  let first: PkiReport;
  beforeAll(async () => {
    dir = await tempDir();
    first = await ensureMeshPki(dir);
  });

  it("when the folder is empty, then it creates a 1-year CA that may only sign certificates", async () => {
    expect(actions(first)["ca"]).toBe("created");
    const ca = await certAt(caFiles(dir).cert);
    expect(ca.ca).toBe(true);
    expect(ca.checkIssued(ca)).toBe(true);
    expect(ca.validToDate.getTime() - ca.validFromDate.getTime()).toBeGreaterThanOrEqual(365 * 24 * HOUR_MS);
    expect(ca.checkPrivateKey(createPrivateKey(await readFile(caFiles(dir).key)))).toBe(true);
  });

  it.each(MESH_SERVICES)("when the folder is empty, then the %s leaf has the design's identity, names, usages and 24 h", async (name) => {
    const files = serviceFiles(dir, name);
    const [ca, cert, key] = await Promise.all([certAt(files.ca), certAt(files.cert), readFile(files.key, "utf8")]);

    expect(cert.subjectAltName).toBe(`URI:${serviceId(name)}, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1`);
    expect(cert.keyUsage).toEqual([SERVER_AUTH, CLIENT_AUTH]);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true);
    expect(cert.validToDate.getTime() - Date.now()).toBeGreaterThan(23 * HOUR_MS);
    expect(cert.validToDate.getTime() - Date.now()).toBeLessThanOrEqual(24 * HOUR_MS);
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/); // PKCS#8
    expect(cert.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(createPrivateKey(key).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  });

  it("when it writes, then keys are 0600, certificates 0644, and no temp file is left behind", async () => {
    const modeOf = async (file: string) => (await stat(file)).mode & 0o777;
    expect(await modeOf(caFiles(dir).key)).toBe(0o600);
    expect(await modeOf(caFiles(dir).cert)).toBe(0o644);
    for (const name of MESH_SERVICES) {
      expect(await modeOf(serviceFiles(dir, name).key)).toBe(0o600);
      expect(await modeOf(serviceFiles(dir, name).cert)).toBe(0o644);
    }
    expect((await readdir(path.join(dir, "services"))).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("when everything is valid, then a second run keeps every file as it is", async () => {
    const before = await readFile(serviceFiles(dir, "order").cert);

    const again = await ensureMeshPki(dir);

    expect(new Set(Object.values(actions(again)))).toEqual(new Set(["kept"]));
    expect(await readFile(serviceFiles(dir, "order").cert)).toEqual(before);
    expect(again.summary).toContain("order kept");
  });
});

describe("ensureMeshPki reissues only the leaves that need it", () => {
  it("when a leaf is missing, its key does not match, or another CA issued it, then only those are reissued, saying why", async () => {
    const dir = await tempDir();
    const other = await tempDir();
    await Promise.all([ensureMeshPki(dir), ensureMeshPki(other)]);
    const keptSerial = (await certAt(serviceFiles(dir, "gateway").cert)).serialNumber;
    await unlink(serviceFiles(dir, "order").cert);
    await copyFile(serviceFiles(dir, "order").key, serviceFiles(dir, "payment").key);
    await copyFile(serviceFiles(other, "inventory").cert, serviceFiles(dir, "inventory").cert);
    await copyFile(serviceFiles(other, "inventory").key, serviceFiles(dir, "inventory").key);

    const report = await ensureMeshPki(dir);

    expect(actions(report)).toEqual({
      ca: "kept",
      order: "issued",
      payment: "issued",
      inventory: "issued",
      notification: "kept",
      gateway: "kept",
    });
    expect(reasonOf(report, "order")).toMatch(/^missing; valid until /);
    expect(reasonOf(report, "payment")).toMatch(/^key does not match the certificate/);
    expect(reasonOf(report, "inventory")).toMatch(/^issued by another CA/);
    expect(reasonOf(report, "gateway")).toMatch(/^valid until /);
    expect((await certAt(serviceFiles(dir, "gateway").cert)).serialNumber).toBe(keptSerial);
    const ca = await certAt(caFiles(dir).cert);
    expect((await certAt(serviceFiles(dir, "inventory").cert)).verify(ca.publicKey)).toBe(true);
  });

  it("when a leaf holds another service's identity, then it is reissued with its own", async () => {
    const dir = await tempDir();
    await ensureMeshPki(dir);
    await copyFile(serviceFiles(dir, "payment").cert, serviceFiles(dir, "gateway").cert);
    await copyFile(serviceFiles(dir, "payment").key, serviceFiles(dir, "gateway").key);

    const report = await ensureMeshPki(dir);

    expect(actions(report)).toMatchObject({ payment: "kept", gateway: "issued" });
    expect(reasonOf(report, "gateway")).toMatch(
      /^identity is spiffe:\/\/shopmesh.local\/service\/payment, not spiffe:\/\/shopmesh.local\/service\/gateway/,
    );
    expect((await certAt(serviceFiles(dir, "gateway").cert)).subjectAltName).toContain(`URI:${serviceId("gateway")},`);
  });

  it("when the leaves are past half their lifetime, then they are reissued with a fresh 24 h", async () => {
    const dir = await tempDir();
    await ensureMeshPki(dir);
    await rotate(dir, { notBefore: new Date(Date.now() - 20 * HOUR_MS), notAfter: new Date(Date.now() + 4 * HOUR_MS) });

    const report = await ensureMeshPki(dir);

    for (const name of MESH_SERVICES) {
      expect(reasonOf(report, name)).toMatch(/^past half its lifetime/);
      expect((await certAt(serviceFiles(dir, name).cert)).validToDate.getTime() - Date.now()).toBeGreaterThan(23 * HOUR_MS);
    }
  });

  it("when the CA key is gone, then a new CA is created and every leaf is reissued under it", async () => {
    const dir = await tempDir();
    await ensureMeshPki(dir);
    await unlink(caFiles(dir).key);

    const report = await ensureMeshPki(dir);

    expect(new Set(Object.values(actions(report)))).toEqual(new Set(["created", "issued"]));
    const ca = await certAt(caFiles(dir).cert);
    for (const name of MESH_SERVICES) expect((await certAt(serviceFiles(dir, name).cert)).verify(ca.publicKey)).toBe(true);
  });
});

describe("rotate", () => {
  it("when called, then every service leaf gets a new key and serial with the same identity, under the same CA", async () => {
    const dir = await tempDir();
    await ensureMeshPki(dir);
    const before = await Promise.all(
      MESH_SERVICES.map(async (n) => ({ cert: await certAt(serviceFiles(dir, n).cert), key: await readFile(serviceFiles(dir, n).key) })),
    );

    const report = await rotate(dir);

    expect(new Set(Object.values(actions(report)))).toEqual(new Set(["issued"]));
    const ca = await certAt(caFiles(dir).cert);
    for (const [i, name] of MESH_SERVICES.entries()) {
      const cert = await certAt(serviceFiles(dir, name).cert);
      const key = await readFile(serviceFiles(dir, name).key);
      expect(cert.serialNumber).not.toBe(before[i]?.cert.serialNumber);
      expect(key).not.toEqual(before[i]?.key);
      expect(cert.subjectAltName).toBe(before[i]?.cert.subjectAltName);
      expect(cert.checkPrivateKey(createPrivateKey(key)) && cert.verify(ca.publicKey)).toBe(true);
    }
  });

  it("when there is no CA, then it fails saying so and how to make one", async () => {
    const dir = await tempDir();
    await expect(rotate(dir)).rejects.toThrow(/^no CA in .*: run `npm run certs`$/);
  });
});

describe("issueOperator", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    await ensureMeshPki(dir);
  });

  it.each(["reader", "admin"] as const)(
    "when issued as %s, then clients/<name> holds a client-only leaf with the operator's SPIFFE ID",
    async (role) => {
      const name = `ops-${role}`;
      const issued = await issueOperator(dir, name, role);

      expect(issued.files).toEqual(operatorFiles(dir, name));
      expect(issued.id).toBe(operatorId(name, role));
      const cert = await certAt(path.join(dir, "clients", `${name}.crt`));
      expect(cert.subjectAltName).toBe(`URI:spiffe://shopmesh.local/operator/${role}/${name}`);
      expect(cert.keyUsage).toEqual([CLIENT_AUTH]);
      expect(cert.serialNumber).toBe(issued.serialNumber);
      expect(cert.verify((await certAt(caFiles(dir).cert)).publicKey)).toBe(true);
      expect((await stat(issued.files.key)).mode & 0o777).toBe(0o600);
    },
  );

  it.each(["Alice", "a b", "", "../ca", "x".repeat(41), "ops_1"])(
    "when the name is %j, then it is refused naming it, and nothing is written",
    async (name) => {
      await expect(issueOperator(dir, name, "reader")).rejects.toThrow(
        `operator name "${name}" is not valid: use 1 to 40 characters of a-z, 0-9 and "-"`,
      );
      const written = await readdir(path.join(dir, "clients")).catch(() => []);
      expect(written.filter((f) => !f.startsWith("ops-"))).toEqual([]);
    },
  );

  it("when the role is not reader or admin, then it is refused naming it", async () => {
    await expect(issueOperator(dir, "eve", "root" as "admin")).rejects.toThrow('operator role "root" is not valid: use reader or admin');
  });

  it("when asked for notBefore/notAfter in the past, then the certificate is expired", async () => {
    const issued = await issueOperator(dir, "late", "reader", {
      notBefore: new Date(Date.now() - 48 * HOUR_MS),
      notAfter: new Date(Date.now() - 24 * HOUR_MS),
    });
    expect(issued.notAfter.getTime()).toBeLessThan(Date.now());
    expect((await certAt(issued.files.cert)).validToDate.getTime()).toBeLessThan(Date.now());
  });

  it("when issuerDir names another PKI, then the certificate verifies against that CA and not this one", async () => {
    const other = await tempDir();
    await ensureMeshPki(other);

    const issued = await issueOperator(dir, "stranger", "admin", { issuerDir: other });

    const cert = await certAt(issued.files.cert);
    expect(cert.verify((await certAt(caFiles(other).cert)).publicKey)).toBe(true);
    expect(cert.verify((await certAt(caFiles(dir).cert)).publicKey)).toBe(false);
    expect(issued.files.cert.startsWith(dir)).toBe(true);
  });
});

describe("issueBroker", () => {
  it("when issued, then brokers/kafka.pem is Kafka's PEM keystore: the unencrypted PKCS#8 key then the broker's leaf", async () => {
    const dir = await tempDir();
    await ensureMeshPki(dir);
    const issued = await issueBroker(dir);

    expect(issued.files).toEqual(brokerFiles(dir));
    expect(issued.id).toBe(KAFKA_BROKER_ID);
    const cert = await certAt(issued.files.cert);
    expect(cert.subjectAltName).toBe(
      "URI:spiffe://shopmesh.local/service/kafka, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
    );
    expect(cert.keyUsage).toEqual([SERVER_AUTH, CLIENT_AUTH]);
    expect(cert.verify((await certAt(caFiles(dir).cert)).publicKey)).toBe(true);
    const keystore = await readFile(issued.files.keystore, "utf8");
    const blocks = [...keystore.matchAll(/-----BEGIN ([A-Z ]+)-----/g)].map((m) => m[1]);
    expect(blocks).toEqual(["PRIVATE KEY", "CERTIFICATE"]);
    expect(new X509Certificate(keystore).serialNumber).toBe(issued.serialNumber);
    expect(cert.checkPrivateKey(createPrivateKey(keystore))).toBe(true);
    expect((await stat(issued.files.keystore)).mode & 0o777).toBe(0o600);
  });
});

describe("MeshCertificates", () => {
  it("when the files are read, then ready() resolves and current() holds the CA and the matching pair", async () => {
    const dir = await tempDir();
    await ensureMeshPki(dir);
    const files = serviceFiles(dir, "order");
    const certs = new MeshCertificates(files, { logger: memoryLogger(), refreshMs: 100 });
    expect(() => certs.current()).toThrow(/not loaded yet: await ready\(\) first/);

    await certs.ready();

    expect(certs.current()).toEqual({ ca: await readFile(files.ca), cert: await readFile(files.cert), key: await readFile(files.key) });
    certs.close();
  });

  it("when the files are missing, then it warns once naming the file, and ready(timeoutMs) rejects saying the same", async () => {
    const dir = await tempDir();
    const logger = memoryLogger();
    const certs = new MeshCertificates(serviceFiles(dir, "order"), { logger, refreshMs: 100 });
    await until("the warning", () => logger.lines.some((l) => l.level === "warn"), 10_000);
    await certs.refresh();

    await expect(certs.ready(100)).rejects.toThrow(/^no usable certificates after 100 ms: ENOENT.*ca\.crt/);
    expect(logger.lines.filter((l) => l.level === "warn").map((l) => l.message)).toEqual([
      expect.stringMatching(/^certificates not reloaded: ENOENT.*ca\.crt.*; no certificate in use yet$/),
    ]);
    certs.close();
  });

  it("when a process has nothing else to do but await ready(timeoutMs), then it lives to see the rejection", async () => {
    // A service at start awaits ready() before anything keeps its event loop alive; the poll timer is unref'd.
    const script = [
      'import { MeshCertificates } from "#shared/security/certificates.js";',
      'import { serviceFiles } from "#shared/security/pki-layout.js";',
      `const certs = new MeshCertificates(serviceFiles(${JSON.stringify(await tempDir())}, "order"), { logger: { info() {}, warn() {} } });`,
      'await certs.ready(200).catch((e) => console.log("rejected:", e.message));',
    ].join("\n");

    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: ROOT,
      timeout: 60_000,
    });

    expect(stdout).toMatch(/^rejected: no usable certificates after 200 ms: ENOENT/);
  });

  it("when a process awaits ready() for files that appear later, then it waits for them and then exits on its own", async () => {
    const dir = await tempDir();
    const script = [
      'import { MeshCertificates } from "#shared/security/certificates.js";',
      'import { serviceFiles } from "#shared/security/pki-layout.js";',
      'const logger = { info() {}, warn(_fields, message) { console.log("warn:", message); } };',
      `const certs = new MeshCertificates(serviceFiles(${JSON.stringify(dir)}, "order"), { logger, refreshMs: 100 });`,
      "await certs.ready();",
      'console.log("ready");',
    ].join("\n");
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    cleanups.push(() => child.kill());

    await until(
      "the child's first read to fail",
      () => stdout.includes("warn: certificates not reloaded: ENOENT") || child.exitCode !== null,
      30_000,
    );
    await ensureMeshPki(dir);

    expect(await exited).toBe(0); // it exited by itself: no close(), and the poll timer no longer holds it
    expect(stdout).toMatch(/ready\n$/);
  });

  it("when a new certificate sits next to the old key, then it is not handed out, the last good pair stays and one warning says so", async () => {
    const dir = await tempDir();
    const staging = await tempDir(); // the same CA, a newer order leaf: the other half of a rotation
    await ensureMeshPki(dir);
    await Promise.all([copyFile(caFiles(dir).cert, caFiles(staging).cert), copyFile(caFiles(dir).key, caFiles(staging).key)]);
    await rotate(staging);
    const files = serviceFiles(dir, "order");
    const logger = memoryLogger();
    const certs = new MeshCertificates(files, { logger, refreshMs: 100 });
    await certs.ready();
    const good = certs.current();
    const handedOut: Buffer[][] = [];
    certs.addIdentityCertificateListener((update) => update && handedOut.push([update.certificate, update.privateKey]));
    const changes: CertificateSet[] = [];
    certs.onChange((set) => changes.push(set));
    const warnings = () => logger.lines.filter((l) => l.level === "warn");

    await copyFile(serviceFiles(staging, "order").cert, files.cert);
    await until("the mismatch warning", () => warnings().length > 0, 10_000);
    await certs.refresh();
    await certs.refresh();

    expect(certs.current()).toEqual(good);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]?.message).toMatch(
      /does not match the certificate .*order\.crt.*keeping the last good certificate \(serial [0-9A-F]+\)/,
    );
    expect(changes).toEqual([]);

    await copyFile(serviceFiles(staging, "order").key, files.key);
    await until("the new pair", () => changes.length > 0, 10_000);

    expect(certs.current().cert).toEqual(await readFile(serviceFiles(staging, "order").cert));
    expect(handedOut.length).toBeGreaterThan(0);
    for (const [cert, key] of handedOut)
      expect(new X509Certificate(cert as Buffer).checkPrivateKey(createPrivateKey(key as Buffer))).toBe(true);
    certs.close();
  });
});
