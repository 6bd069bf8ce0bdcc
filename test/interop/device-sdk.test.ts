/**
 * Microsoft's official device SDK (azure-iot-device + azure-iot-device-mqtt) against the emulator: X.509 and SAS
 * connect, telemetry with properties, twin get / reported / desired, a direct method, a cloud-to-device message.
 * If the official client needs something the emulator lacks, the emulator is wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAndKey } from '../../src/emulator/certs.js';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { call, Client, DeviceMqtt, Message, X509AuthenticationProvider, type Twin } from './sdk.js';

let emu: Emulator;
let x509Cert: CertificateAndKey;

beforeAll(async () => {
  emu = await startEmulator({ hubs: ['emulator.azure-devices.net', 'hub-b.azure-devices.net'] });
  x509Cert = await emu.createDeviceCredentials('sdk-x509');
  emu.registerDevice({ deviceId: 'sdk-x509', auth: { type: 'x509-ca' } });
});

afterAll(async () => {
  await emu.close();
});

/** A SAS device client through the connection string `registerDevice` returns (GatewayHostName). */
async function sasClient(deviceId: string, hub?: string): Promise<Client> {
  const reg = emu.registerDevice(hub === undefined ? { deviceId, auth: { type: 'sas' } } : { deviceId, hub, auth: { type: 'sas' } });
  const client = Client.fromConnectionString(reg.connectionString, DeviceMqtt);
  await client.setOptions({ ca: emu.ca.cert });
  return client;
}

describe('Microsoft device SDK against the emulator', () => {
  it('connects with an X.509 certificate through HostName=localhost:<port>', async () => {
    const client = Client.fromConnectionString(`HostName=localhost:${emu.hub.port};DeviceId=sdk-x509;x509=true`, DeviceMqtt);
    await client.setOptions({ cert: x509Cert.chain, key: x509Cert.key, ca: emu.ca.cert });
    const connected = emu.waitFor('connect', (e) => e.clientId === 'sdk-x509');
    await client.open();
    const e = await connected;
    expect(e.auth).toBe('x509');
    expect(e.host).toBe('emulator.azure-devices.net');
    expect(e.apiVersion).toBe('2021-04-12');
    expect(e.username).toMatch(/^localhost:\d+\/sdk-x509\/\?api-version=2021-04-12&DeviceClientType=/);
    expect(emu.isConnected('sdk-x509')).toBe(true);
    const gone = emu.waitFor('disconnect', (d) => d.clientId === 'sdk-x509');
    await client.close();
    expect((await gone).graceful).toBe(true);
  });

  it('connects with X.509 to a second hub through X509AuthenticationProvider with a gateway host', async () => {
    const cert = await emu.createDeviceCredentials('sdk-x509-b');
    emu.registerDevice({ deviceId: 'sdk-x509-b', hub: 'hub-b.azure-devices.net', auth: { type: 'x509-ca' } });
    const auth = new X509AuthenticationProvider({
      host: 'hub-b.azure-devices.net',
      deviceId: 'sdk-x509-b',
      gatewayHostName: `127.0.0.1:${emu.hub.port}`,
      x509: { cert: cert.chain, key: cert.key },
    } as ConstructorParameters<typeof X509AuthenticationProvider>[0]);
    const client = Client.fromAuthenticationProvider(auth, DeviceMqtt);
    await client.setOptions({ ca: emu.ca.cert });
    const connected = emu.waitFor('connect', (e) => e.clientId === 'sdk-x509-b');
    await client.open();
    expect((await connected).host).toBe('hub-b.azure-devices.net');
    await client.close();
  });

  it('connects with a SAS token (GatewayHostName) and sends telemetry with properties', async () => {
    const client = await sasClient('sdk-sas');
    const connected = emu.waitFor('connect', (e) => e.clientId === 'sdk-sas');
    await client.open();
    expect((await connected).auth).toBe('sas');

    const message = new Message(JSON.stringify({ temperature: 21.5 }));
    message.messageId = 'msg-1';
    message.correlationId = 'corr/1';
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    message.properties.add('alert', 'too hot & humid');
    message.properties.add('unicode', 'é/€');
    await client.sendEvent(message);
    const [m] = await emu.waitForTelemetry('sdk-sas', 1);
    expect(JSON.parse(new TextDecoder().decode(m!.payload))).toEqual({ temperature: 21.5 });
    expect(m!.qos).toBe(1);
    expect(m!.properties).toEqual({ alert: 'too hot & humid', unicode: 'é/€' });
    expect(m!.systemProperties).toMatchObject({
      '$.mid': 'msg-1',
      '$.cid': 'corr/1',
      '$.ct': 'application/json',
      '$.ce': 'utf-8',
      'iothub-connection-device-id': 'sdk-sas',
    });
    await client.close();
  });

  it('connects with a SAS token through HostName=127.0.0.1:<port> and records the model id', async () => {
    const reg = emu.registerDevice({ deviceId: 'sdk-pnp', auth: { type: 'sas' } });
    const client = Client.fromConnectionString(
      `HostName=127.0.0.1:${emu.hub.port};DeviceId=sdk-pnp;SharedAccessKey=${reg.primaryKey!}`, DeviceMqtt);
    await client.setOptions({ ca: emu.ca.cert, modelId: 'dtmi:com:example:Thermostat;1' });
    const connected = emu.waitFor('connect', (e) => e.clientId === 'sdk-pnp');
    await client.open();
    const e = await connected;
    expect(e.modelId).toBe('dtmi:com:example:Thermostat;1');
    expect(e.host).toBe('emulator.azure-devices.net');
    await client.close();
  });

  it('is refused with a wrong SAS key', async () => {
    emu.registerDevice({ deviceId: 'sdk-badkey', auth: { type: 'sas' } });
    const client = Client.fromConnectionString(
      `HostName=emulator.azure-devices.net;DeviceId=sdk-badkey;SharedAccessKey=${Buffer.alloc(32, 1).toString('base64')};` +
        `GatewayHostName=127.0.0.1:${emu.hub.port}`, DeviceMqtt);
    await client.setOptions({ ca: emu.ca.cert });
    const refused = emu.waitFor('connectRefused', (e) => e.clientId === 'sdk-badkey');
    await expect(client.open()).rejects.toThrow();
    expect((await refused).returnCode).toBe(4);
  });

  it('gets the twin, updates reported properties and receives desired properties', async () => {
    const client = await sasClient('sdk-twin');
    emu.updateDesired('sdk-twin', { interval: 10 });
    await client.open();
    const twin = await client.getTwin();
    expect(twin.properties.desired['interval']).toBe(10);
    expect(twin.properties.desired['$version']).toBe(2);
    expect(twin.properties.reported['$version']).toBe(1);

    const reported = emu.waitFor('twinReported', (e) => e.deviceId === 'sdk-twin');
    const reportedProps = twin.properties.reported as unknown as {
      update(patch: object, cb: (err?: Error | null) => void): void;
    };
    await call((cb) => reportedProps.update({ firmware: { version: '1.0.0' }, battery: 87 }, cb));
    expect((await reported).version).toBe(2);
    expect(emu.getTwin('sdk-twin').reported).toEqual({ firmware: { version: '1.0.0' }, battery: 87, $version: 2 });

    // The SDK subscribes to desired updates when the first listener is attached; IoT Hub only pushes patches to
    // subscribed devices, so wait for the subscription first.
    const subscribed = emu.waitFor('subscribe', (e) => e.clientId === 'sdk-twin' &&
      e.subscriptions.some((s) => s.topic === '$iothub/twin/PATCH/properties/desired/#'));
    const desired = new Promise<Record<string, unknown>>((resolve) => {
      (twin as Twin).on('properties.desired', (patch: Record<string, unknown>) => {
        if (patch['interval'] === 30) resolve(patch);
      });
    });
    await subscribed;
    emu.updateDesired('sdk-twin', { interval: 30 });
    const patch = await desired;
    expect(patch['$version']).toBe(3);
    await client.close();
  });

  it('answers a direct method', async () => {
    const client = await sasClient('sdk-method');
    await client.open();
    const subscribed = emu.waitFor('subscribe', (e) => e.clientId === 'sdk-method' &&
      e.subscriptions.some((s) => s.topic === '$iothub/methods/POST/#'));
    client.onDeviceMethod('reboot', (request, response) => {
      const payload = request.payload as { delay: number };
      response.send(200, { rebooting: true, delay: payload.delay }, () => undefined);
    });
    await subscribed;
    const result = await emu.invokeMethod('sdk-method', 'reboot', { delay: 5 }, { timeoutMs: 5000 });
    expect(result.status).toBe(200);
    expect(result.payload).toEqual({ rebooting: true, delay: 5 });
    await client.close();
  });

  it('receives a cloud-to-device message with its properties', async () => {
    const client = await sasClient('sdk-c2d');
    await client.open();
    const received = new Promise<InstanceType<typeof Message>>((resolve) => client.on('message', resolve));
    await emu.waitFor('subscribe', (e) => e.clientId === 'sdk-c2d' &&
      e.subscriptions.some((s) => s.topic === 'devices/sdk-c2d/messages/devicebound/#' && s.granted === 1));
    const completed = emu.waitFor('c2d', (e) => e.deviceId === 'sdk-c2d' && e.kind === 'completed');
    emu.sendC2D('sdk-c2d', 'turn on', { messageId: 'c2d-1', correlationId: 'c-1', properties: { color: 'red', 'x y': 'a&b' } });
    const msg = await received;
    expect(msg.data.toString()).toBe('turn on');
    expect(msg.messageId).toBe('c2d-1');
    expect(msg.correlationId).toBe('c-1');
    expect(msg.to).toBe('/devices/sdk-c2d/messages/deviceBound');
    expect(msg.properties.getValue('color')).toBe('red');
    expect(msg.properties.getValue('x y')).toBe('a&b');
    await client.complete(msg);
    expect((await completed).messageId).toBe('c2d-1');
    expect(emu.c2dQueue('sdk-c2d')).toHaveLength(0);
    await client.close();
  });
});
