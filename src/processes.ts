/** Processes on this host, for leases and leftovers that name the process that made them. */

/** True unless no process has this pid (EPERM means one exists, owned by someone else). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}
