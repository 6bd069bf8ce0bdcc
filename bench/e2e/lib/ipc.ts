/**
 * Request/response over a child process's IPC channel, in both directions: the orchestrator asks a worker to run a
 * case, a worker asks the emulator (through the orchestrator) to register devices or invoke direct methods.
 */
import type { ChildProcess } from 'node:child_process';

interface Request {
  kind: 'req';
  id: number;
  op: string;
  args: unknown;
}

interface Response {
  kind: 'res';
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

/** What both a ChildProcess and the child's `process` offer. */
interface Endpoint {
  on(event: string, listener: (arg: unknown) => void): unknown;
  off(event: string, listener: (arg: unknown) => void): unknown;
  send?: ((message: unknown) => boolean) | undefined;
}

/** Serves requests with `handler`; `request` asks the other side. */
export class IpcPeer {
  readonly #end: Endpoint;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #handler: ((op: string, args: unknown) => Promise<unknown>) | undefined;
  readonly #onMessage = (msg: unknown): void => this.#receive(msg as Request | Response);
  readonly #onExit = (): void => this.#failAll(new Error('the peer process exited'));

  constructor(peer: ChildProcess | NodeJS.Process) {
    const end = peer as unknown as Endpoint;
    this.#end = end;
    end.on('message', this.#onMessage);
    end.on('exit', this.#onExit);
    end.on('disconnect', this.#onExit);
  }

  /** Answer the other side's requests with `handler` (its rejection is sent back as an error). */
  serve(handler: (op: string, args: unknown) => Promise<unknown>): void {
    this.#handler = handler;
  }

  /** Ask the other side to do `op`. */
  request<T>(op: string, args: unknown = null): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const req: Request = { kind: 'req', id, op, args };
      if (this.#end.send === undefined || !this.#end.send(req)) {
        // send() returning false only means backpressure; an absent channel is the real failure.
        if (this.#end.send === undefined) {
          this.#pending.delete(id);
          reject(new Error('no IPC channel'));
        }
      }
    });
  }

  /** Stop listening (lets the process exit). */
  close(): void {
    this.#end.off('message', this.#onMessage);
    this.#end.off('exit', this.#onExit);
    this.#end.off('disconnect', this.#onExit);
    this.#failAll(new Error('the IPC peer was closed'));
  }

  #failAll(err: Error): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of all) p.reject(err);
  }

  #receive(msg: Request | Response): void {
    if (typeof msg !== 'object' || msg === null) return;
    if (msg.kind === 'res') {
      const p = this.#pending.get(msg.id);
      if (p === undefined) return;
      this.#pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new Error(msg.error ?? 'failed'));
      return;
    }
    if (msg.kind !== 'req') return;
    const handler = this.#handler;
    const reply = (res: Response): void => {
      this.#end.send?.(res);
    };
    if (handler === undefined) {
      reply({ kind: 'res', id: msg.id, ok: false, error: `no handler for ${msg.op}` });
      return;
    }
    handler(msg.op, msg.args).then(
      (value) => reply({ kind: 'res', id: msg.id, ok: true, value }),
      (err: unknown) => reply({ kind: 'res', id: msg.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
    );
  }
}
