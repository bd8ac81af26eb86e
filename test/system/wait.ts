/** The one polling wait and free-port helper live in scripts/mesh/; these names stay for the system tests. */
export { sleep, waitUntil, type WaitOptions } from "../../scripts/mesh/wait.js";
export { freePort } from "../../scripts/mesh/free-port.js";
