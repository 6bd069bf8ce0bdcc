/**
 * The floor under every MQTT client in Node: a bare TLS connection to the hub (one shared secure context, no MQTT at
 * all). Used in the idle-memory case only, to show how much of a device's memory is Node's and OpenSSL's TLS state
 * that no library can avoid. The hub closes such a connection after its CONNECT deadline (30 s), long after the
 * measurement.
 */
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { EmulatorInfo, RegisteredBenchDevice } from '../lib/types.js';
import type { BenchClient, Side } from './side.js';

let context: SecureContext | undefined;

/** A bare TLS connection as a benchmark side (connect and close only). */
export const tlsFloor: Side = {
  async connect(_device: RegisteredBenchDevice, emu: EmulatorInfo): Promise<BenchClient> {
    context ??= createSecureContext({ ca: emu.ca, minVersion: 'TLSv1.2' });
    const socket: TLSSocket = connect({ host: emu.address, port: emu.port, servername: emu.host, secureContext: context });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    socket.on('error', () => undefined);
    const unsupported = (): Promise<never> => Promise.reject(new Error('a bare TLS connection sends nothing'));
    return {
      send: unsupported,
      updateReported: unsupported,
      inFlight: () => -1,
      close: async () => {
        socket.destroy();
      },
    };
  },
};
