/**
 * Fault controls for tests: make the emulator misbehave the ways a real hub, DPS or network can, per device.
 * Faults set for a device also apply to its later connections until `resume` or `reset`.
 */
import type { FirmwareServerFaults } from './firmware-server.js';

/** The fault controls of an emulator (`emulator.faults`). */
export interface EmulatorFaults {
  /** Close the device's connection abruptly (no DISCONNECT). Returns false when it is not connected. */
  dropConnection(deviceId: string): boolean;
  /** Answer the device's next `count` (default 1) CONNECTs with CONNACK `returnCode` (1..5) and close. */
  refuseNextConnect(deviceId: string, returnCode: number, count?: number): void;
  /** Do not PUBACK the device's next `count` QoS 1 PUBLISHes (default: all, until `resume`). They are processed. */
  withholdPubacks(deviceId: string, count?: number): void;
  /** Delay every packet written to the device by `ms`. */
  delayResponses(deviceId: string, ms: number): void;
  /** Write nothing at all to the device (no CONNACK, PINGRESP, PUBACK, responses); its packets are still processed. */
  stopAnswering(deviceId: string): void;
  /** Undo `withholdPubacks`, `delayResponses` and `stopAnswering` for the device. */
  resume(deviceId: string): void;
  /** Write `bytes` as they are to the device's connection. Returns false when it is not connected. */
  sendRaw(deviceId: string, bytes: Uint8Array): boolean;
  /** Answer the device's next `count` (default 1) twin requests (GET or reported PATCH) with `status` (429, 500...). */
  failNextTwin(deviceId: string, status: number, count?: number): void;
  /**
   * Answer the next `count` (default 1) DPS requests (register or poll) with `status` (429, 500, ...). With
   * `retryAfterSeconds`, the answer carries `retry-after`.
   */
  failNextDps(status: number, count?: number, retryAfterSeconds?: number): void;
  /** DPS stops answering registration requests (true) or answers again (false). */
  dpsStopAnswering(on?: boolean): void;
  /** The firmware server's faults (undefined when the emulator runs without one). */
  readonly firmware: FirmwareServerFaults | undefined;
  /** Turn every fault off (firmware server's included). */
  reset(): void;
}

/** Per-device fault state. */
export interface DeviceFaults {
  refuse?: { code: number; count: number };
  withholdPubacks?: number;
  delayMs?: number;
  stopAnswering?: boolean;
  failTwin?: { status: number; count: number };
}

/** Fault state read by the hub and DPS. */
export class FaultState {
  readonly devices = new Map<string, DeviceFaults>();
  dpsFail: { status: number; count: number; retryAfter: number | undefined } | undefined;
  dpsSilent = false;

  of(deviceId: string): DeviceFaults {
    let f = this.devices.get(deviceId);
    if (f === undefined) {
      f = {};
      this.devices.set(deviceId, f);
    }
    return f;
  }

  /** Consume one refusal for `deviceId`: the return code, or undefined. */
  takeRefusal(deviceId: string): number | undefined {
    const r = this.devices.get(deviceId)?.refuse;
    if (r === undefined || r.count <= 0) return undefined;
    r.count--;
    return r.code;
  }

  /** Consume one withheld PUBACK: true when this PUBACK must not be sent. */
  takeWithheldPuback(deviceId: string): boolean {
    const f = this.devices.get(deviceId);
    if (f?.withholdPubacks === undefined || f.withholdPubacks <= 0) return false;
    f.withholdPubacks--;
    return true;
  }

  /** Consume one forced twin status. */
  takeTwinFailure(deviceId: string): number | undefined {
    const t = this.devices.get(deviceId)?.failTwin;
    if (t === undefined || t.count <= 0) return undefined;
    t.count--;
    return t.status;
  }

  /** Consume one forced DPS answer. */
  takeDpsFailure(): { status: number; retryAfter: number | undefined } | undefined {
    const d = this.dpsFail;
    if (d === undefined || d.count <= 0) return undefined;
    d.count--;
    return { status: d.status, retryAfter: d.retryAfter };
  }
}

/** What the fault controls need from the emulator. */
export interface FaultHooks {
  drop(deviceId: string): boolean;
  sendRaw(deviceId: string, bytes: Uint8Array): boolean;
  /** Apply the device's delay/suppress state to its current connection. */
  refresh(deviceId: string): void;
  firmware: FirmwareServerFaults | undefined;
}

function count(n: number | undefined, what: string): number {
  const c = n ?? 1;
  if (!(c > 0)) throw new RangeError(`${what}: count must be positive`);
  return c;
}

/** Build the public fault controls over `state`. */
export function createFaultControls(state: FaultState, hooks: FaultHooks): EmulatorFaults {
  return {
    dropConnection: (deviceId) => hooks.drop(deviceId),
    refuseNextConnect(deviceId, returnCode, n) {
      if (!Number.isInteger(returnCode) || returnCode < 1 || returnCode > 255) {
        throw new RangeError('refuseNextConnect: returnCode must be 1..255');
      }
      state.of(deviceId).refuse = { code: returnCode, count: count(n, 'refuseNextConnect') };
    },
    withholdPubacks(deviceId, n) {
      state.of(deviceId).withholdPubacks = n ?? Number.POSITIVE_INFINITY;
    },
    delayResponses(deviceId, ms) {
      if (!(ms >= 0)) throw new RangeError('delayResponses: ms must be >= 0');
      state.of(deviceId).delayMs = ms;
      hooks.refresh(deviceId);
    },
    stopAnswering(deviceId) {
      state.of(deviceId).stopAnswering = true;
      hooks.refresh(deviceId);
    },
    resume(deviceId) {
      const f = state.of(deviceId);
      delete f.withholdPubacks;
      delete f.delayMs;
      delete f.stopAnswering;
      hooks.refresh(deviceId);
    },
    sendRaw: (deviceId, bytes) => hooks.sendRaw(deviceId, bytes),
    failNextTwin(deviceId, status, n) {
      state.of(deviceId).failTwin = { status, count: count(n, 'failNextTwin') };
    },
    failNextDps(status, n, retryAfterSeconds) {
      state.dpsFail = { status, count: count(n, 'failNextDps'), retryAfter: retryAfterSeconds };
    },
    dpsStopAnswering(on = true) {
      state.dpsSilent = on;
    },
    firmware: hooks.firmware,
    reset() {
      const ids = [...state.devices.keys()];
      state.devices.clear();
      state.dpsFail = undefined;
      state.dpsSilent = false;
      for (const id of ids) hooks.refresh(id);
      hooks.firmware?.reset();
    },
  };
}
