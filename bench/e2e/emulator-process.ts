/**
 * The emulator's own process for the end-to-end benchmarks: `startEmulator` on loopback, driven over IPC by the
 * orchestrator (bench/e2e/main.ts), so that the hub side has its own core and never counts as client CPU.
 *
 * Telemetry keeps 1 message and the packet log is off (the benchmarks read neither), so the hub does the work of
 * every message (parse, property bag, PUBACK) without growing its memory.
 */
import { startEmulator } from '../../src/emulator/index.js';
import { IpcPeer } from './lib/ipc.js';
import type { EmulatorInfo, RegisteredBenchDevice, UsageSnapshot } from './lib/types.js';

const emu = await startEmulator({ firmware: false, telemetryLimit: 1, packetLogLimit: 0 });
const parent = new IpcPeer(process);

function usage(): UsageSnapshot {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return { cpuMicros: cpu.user + cpu.system, wallMs: performance.now(), rss: mem.rss, heapUsed: mem.heapUsed };
}

parent.serve(async (op, args) => {
  switch (op) {
    case 'info': {
      const info: EmulatorInfo = { host: emu.hub.host, address: emu.hub.address, port: emu.hub.port, ca: emu.ca.cert };
      return info;
    }
    case 'register': {
      const { prefix, count } = args as { prefix: string; count: number };
      const out: RegisteredBenchDevice[] = [];
      for (let i = 0; i < count; i++) {
        const d = emu.registerDevice({ deviceId: `${prefix}-${i}`, auth: { type: 'sas' } });
        out.push({ deviceId: d.deviceId, hub: d.hub, primaryKey: d.primaryKey!, connectionString: d.connectionString });
      }
      return out;
    }
    case 'remove': {
      for (const id of args as string[]) emu.removeDevice(id);
      return null;
    }
    case 'connected': {
      return (args as string[]).filter((id) => emu.isConnected(id)).length;
    }
    case 'invokeMethods': {
      // Timed here, on the service side: from the call to the device's answer, as a backend would see it.
      const { deviceId, name, count } = args as { deviceId: string; name: string; count: number };
      const out: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        const r = await emu.invokeMethod(deviceId, name, { seq: i }, { timeoutMs: 10_000 });
        out.push(performance.now() - t0);
        if (r.status !== 200) throw new Error(`method ${name} on ${deviceId} answered ${r.status}`);
      }
      return out;
    }
    case 'usage':
      return usage();
    case 'close':
      await emu.close();
      parent.close();
      return null;
    default:
      throw new Error(`unknown op ${op}`);
  }
});
// Exit when the orchestrator closes the channel (a CPU profile, if asked for, is written then).
process.on('disconnect', () => process.exit(0));
process.send?.({ kind: 'ready' });
