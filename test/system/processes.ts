/**
 * The system tests' child processes are the harness's (scripts/mesh/child.ts, scripts/mesh/mesh.ts); these names
 * stay so that tests written against them keep working.
 */
export { ROOT, type MeshChild as ServiceProcess } from "../../scripts/mesh/child.js";
export { waitForServing } from "../../scripts/mesh/mesh.js";
