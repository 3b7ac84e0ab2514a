/** Whether a process with this pid exists (EPERM: it does, owned by someone else). Used to break stale locks. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
