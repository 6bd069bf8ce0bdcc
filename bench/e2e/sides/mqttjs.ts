/**
 * Raw MQTT.js 5 (the `mqtt` package) as a third side: what a user would write without any Azure library. A plain
 * MQTT 3.1.1 client with the SAS token as password, the same four subscriptions and twin GET, and the telemetry
 * topic with the property bag built once (the libraries build it for every message).
 */
import { createRequire } from 'node:module';
import type { MqttClient, IClientOptions } from 'mqtt';
import { createSasToken } from '../../../src/emulator/sas.js';
import type { EmulatorInfo, RegisteredBenchDevice } from '../lib/types.js';
import { telemetryTopic, type BenchClient, type Side } from './side.js';

const API_VERSION = '2021-04-12';

// Loaded on first use, so that no other side's process evaluates MQTT.js.
let connectAsync: ((url: string, options: IClientOptions) => Promise<MqttClient>) | undefined;

/** Raw MQTT.js 5 as a benchmark side. */
export const mqttjs: Side = {
  async connect(device: RegisteredBenchDevice, emu: EmulatorInfo): Promise<BenchClient> {
    const id = device.deviceId;
    connectAsync ??= (createRequire(import.meta.url)('mqtt') as { connectAsync: NonNullable<typeof connectAsync> }).connectAsync;
    const client = await connectAsync(`mqtts://${emu.address}:${emu.port}`, {
      ca: emu.ca,
      servername: emu.host,
      clientId: id,
      username: `${device.hub}/${id}/?api-version=${API_VERSION}`,
      password: createSasToken({ resource: `${device.hub}/devices/${id}`, key: device.primaryKey }),
      protocolVersion: 4,
      clean: false,
      keepalive: 60,
      reconnectPeriod: 0,
    });
    await client.subscribeAsync({
      [`devices/${id}/messages/devicebound/#`]: { qos: 1 },
      '$iothub/twin/res/#': { qos: 0 },
      '$iothub/twin/PATCH/properties/desired/#': { qos: 0 },
      '$iothub/methods/POST/#': { qos: 0 },
    });
    let rid = 0;
    const waiting = new Map<string, () => void>();
    client.on('message', (topic) => {
      if (!topic.startsWith('$iothub/twin/res/')) return;
      const m = /\$rid=([^&]+)/.exec(topic);
      const done = m === null ? undefined : waiting.get(m[1]!);
      if (done !== undefined) {
        waiting.delete(m![1]!);
        done();
      }
    });
    const twinRequest = (topic: (rid: string) => string, body: string): Promise<void> => {
      const r = String(++rid);
      const answered = new Promise<void>((resolve) => waiting.set(r, resolve));
      client.publish(topic(r), body, { qos: 0 });
      return answered;
    };
    await twinRequest((r) => `$iothub/twin/GET/?$rid=${r}`, '');
    const topic = telemetryTopic(id);
    const qos0 = { qos: 0 } as const;
    const qos1 = { qos: 1 } as const;
    return {
      send: async (payload, qos) => {
        await client.publishAsync(topic, payload as Buffer, qos === 1 ? qos1 : qos0);
      },
      updateReported: (patch) => twinRequest((r) => `$iothub/twin/PATCH/properties/reported/?$rid=${r}`, JSON.stringify(patch)),
      inFlight: () => {
        let n = 0;
        for (const _ in client.outgoing) n++;
        return n;
      },
      close: async () => {
        await client.endAsync();
      },
    };
  },
};
