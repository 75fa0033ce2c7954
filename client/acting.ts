import { AsyncLocalStorage } from 'node:async_hooks';

/** Who acts, as the audit log names them: `api:<key name>` (with the request's id), `cli:<user>`, `schedule`. */
export interface Actor {
  name: string;
  requestId?: string;
}

const acting = new AsyncLocalStorage<Actor>();

/**
 * Runs `work` on behalf of `actor`: what the clients change meanwhile is recorded in the audit log
 * as theirs (the API runs each request so, with the key's name and the request's id).
 */
export function actingAs<T>(actor: Actor, work: () => T): T {
  return acting.run(actor, work);
}

/** Who the work under way is for, if anyone said. */
export function currentActor(): Actor | undefined {
  return acting.getStore();
}
