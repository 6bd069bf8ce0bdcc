/**
 * Our client (`AzureIotHub`) as a benchmark side: SAS authentication, the default configuration except the
 * in-flight window (`session.inFlightWindow`), a `ping` method handler. Ready = the TWIN_RECEIVED of the automatic
 * twin GET, which the client sends after SUBACK.
 */
import { AzureIotHub, type AzureIotHubEvt } from '../../../src/index.js';
import type { EmulatorInfo, RegisteredBenchDevice } from '../lib/types.js';
import { PING_METHOD, PROPERTIES, type BenchClient, type ConnectOptions, type Side } from './side.js';

const QOS0 = { qos: 0 } as const;
const QOS1 = { qos: 1 } as const;

/** Our client as a benchmark side. */
export const ours: Side = {
  async connect(device: RegisteredBenchDevice, emu: EmulatorInfo, options: ConnectOptions): Promise<BenchClient> {
    const hub = new AzureIotHub({ session: { inFlightWindow: options.inFlight } });
    let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    hub.init(
      {
        deviceId: device.deviceId,
        hostname: emu.host,
        address: emu.address,
        port: emu.port,
        sasKey: device.primaryKey,
        credentials: { ca: emu.ca },
      },
      (evt: AzureIotHubEvt) => {
        if (settle === undefined) return;
        if (evt.type === 'TWIN_RECEIVED') {
          settle.resolve();
          settle = undefined;
        } else if (evt.type === 'CONNECTION_FAILED' || evt.type === 'DISCONNECTED') {
          settle.reject(new Error(`${device.deviceId}: ${evt.type}`));
          settle = undefined;
        }
      },
    );
    hub.onMethod(PING_METHOD, () => ({ status: 200, payload: { ok: true } }));
    await hub.connect();
    await ready;
    return {
      send: (payload, qos) => hub.sendEvent(payload, PROPERTIES, qos === 1 ? QOS1 : QOS0),
      updateReported: async (patch) => {
        await hub.updateReported(patch);
      },
      inFlight: () => -1,
      close: () => hub.disconnect(),
    };
  },
};
