/**
 * Microsoft's official Node device SDK (CommonJS packages), loaded for interop tests, with small promise helpers.
 * The SDK is the reference client that works against real Azure: what it needs, the emulator must provide.
 */
import { createRequire } from 'node:module';
import deviceSdk from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetricKey from 'azure-iot-security-symmetric-key';
import x509Security from 'azure-iot-security-x509';

export const { Client, Message, X509AuthenticationProvider } = deviceSdk;
export type Client = InstanceType<typeof deviceSdk.Client>;
export type Twin = deviceSdk.Twin;
export const DeviceMqtt = deviceMqtt.Mqtt;
export const { ProvisioningDeviceClient } = provisioningSdk;
export const ProvisioningMqtt = provisioningMqtt.Mqtt;
export const { SymmetricKeySecurityClient } = symmetricKey;
export const { X509Security } = x509Security;

// The provisioning transport has no CA option of its own; its MqttBase (resolved from the transport's own
// dependencies) takes `setOptions({ ca })` like the hub transport's does.
const requireFromProvisioning = createRequire(createRequire(import.meta.url).resolve('azure-iot-provisioning-device-mqtt'));
const { MqttBase } = requireFromProvisioning('azure-iot-mqtt-base') as {
  MqttBase: new () => { setOptions(o: { ca: string }): void };
};

/** A provisioning MQTT transport that trusts `ca`. */
export function provisioningTransport(ca: string): InstanceType<typeof ProvisioningMqtt> {
  const base = new MqttBase();
  base.setOptions({ ca });
  return new ProvisioningMqtt(base as ConstructorParameters<typeof ProvisioningMqtt>[0]);
}

/** `await` a Node-style callback API. */
export function call<T = void>(fn: (cb: (err?: Error | null, result?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((err, result) => (err ? reject(err) : resolve(result as T)));
  });
}
