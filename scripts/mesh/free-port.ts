import { createServer } from "node:net";

/**
 * freePort asks the OS for a free TCP port on `host` (listen on 0, read the port, close) for a child process or
 * container to bind next. A server started in this process binds port 0 itself and reads its port instead: that
 * leaves no window in which another process could take the port.
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
