/**
 * Microsoft's device SDK (`azure-iot-device` + `azure-iot-device-mqtt`, MQTT.js 4 underneath) as a benchmark side,
 * used as its documentation shows: `Client.fromConnectionString(connStr, Mqtt)`, `setOptions({ ca })`, `open()`,
 * a `message` listener (cloud-to-device), `onDeviceMethod`, `getTwin()` and a `properties.desired` listener, then
 * `sendEvent(new Message(...))` with the two properties.
 *
 * Ready = the twin GET answered and all four SUBACKs received (counted on the MQTT.js client's `packetreceive`):
 * the SDK subscribes to desired properties only once a listener is attached to the twin it returns.
 *
 * In flight: the SDK has no window of its own; every `sendEvent` is published at once, so the benchmark's closed
 * loop decides how many are unacknowledged. `inFlight()` reads MQTT.js's `outgoing` table to check it.
 */
import { createRequire } from 'node:module';
import type { EmulatorInfo, RegisteredBenchDevice } from '../lib/types.js';
import { PING_METHOD, PROPERTIES, type BenchClient, type Side } from './side.js';

// CommonJS packages: loaded with require so that nothing of them is evaluated before this side is used.
const require = createRequire(import.meta.url);

interface MqttJsClient {
  outgoing: Record<string, unknown>;
  on(event: 'packetreceive', listener: (packet: { cmd: string }) => void): void;
}
interface SdkTwin {
  properties: { reported: { update(patch: object, cb: (err?: Error | null) => void): void } };
  on(event: 'properties.desired', listener: (patch: unknown) => void): void;
}
interface SdkMessage {
  properties: { add(key: string, value: string): void };
}
interface SdkClient {
  setOptions(options: { ca: string }): Promise<unknown>;
  open(): Promise<unknown>;
  close(): Promise<unknown>;
  sendEvent(message: SdkMessage): Promise<unknown>;
  getTwin(): Promise<SdkTwin>;
  on(event: 'message', listener: (msg: unknown) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  complete(msg: unknown, cb: () => void): void;
  onDeviceMethod(name: string, cb: (req: unknown, res: { send(status: number, payload: unknown, cb: () => void): void }) => void): void;
  _transport: { _mqtt: { _mqttClient: MqttJsClient } };
}
interface SdkModules {
  Client: { fromConnectionString(cs: string, transport: unknown): SdkClient };
  Message: new (data: Uint8Array) => SdkMessage;
  Mqtt: unknown;
}

let modules: SdkModules | undefined;
function load(): SdkModules {
  if (modules === undefined) {
    const device = require('azure-iot-device') as { Client: SdkModules['Client']; Message: SdkModules['Message'] };
    const mqtt = require('azure-iot-device-mqtt') as { Mqtt: unknown };
    modules = { Client: device.Client, Message: device.Message, Mqtt: mqtt.Mqtt };
  }
  return modules;
}

const noop = (): void => undefined;
const entries = Object.entries(PROPERTIES);

/** Microsoft's device SDK as a benchmark side. */
export const sdk: Side = {
  async connect(device: RegisteredBenchDevice, emu: EmulatorInfo): Promise<BenchClient> {
    const { Client, Message, Mqtt } = load();
    const client = Client.fromConnectionString(device.connectionString, Mqtt);
    await client.setOptions({ ca: emu.ca });
    client.on('error', noop);
    await client.open();
    const mqttClient = client._transport._mqtt._mqttClient;
    let subacks = 0;
    let allSubscribed: () => void = noop;
    const subscribed = new Promise<void>((resolve) => {
      allSubscribed = resolve;
    });
    mqttClient.on('packetreceive', (p) => {
      if (p.cmd === 'suback' && ++subacks === 4) allSubscribed();
    });
    client.on('message', (msg) => client.complete(msg, noop));
    client.onDeviceMethod(PING_METHOD, (_req, res) => res.send(200, { ok: true }, noop));
    const twin = await client.getTwin();
    twin.on('properties.desired', noop);
    await subscribed;
    return {
      send: async (payload) => {
        const m = new Message(payload);
        for (const [k, v] of entries) m.properties.add(k, v);
        await client.sendEvent(m);
      },
      updateReported: (patch) =>
        new Promise<void>((resolve, reject) => {
          twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()));
        }),
      inFlight: () => {
        let n = 0;
        for (const _ in mqttClient.outgoing) n++;
        return n;
      },
      close: async () => {
        await client.close();
      },
    };
  },
};
