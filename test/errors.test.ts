/**
 * The error classes: stable codes, causes, and `instanceof` across copies of the classes (each bundled entry point of
 * the package carries its own copy).
 */
import { describe, expect, it, vi } from 'vitest';
import { AzureIotHubError, MqttProtocolError, toAzureIotHubError } from '../src/errors.js';

describe('errors', () => {
  it('AzureIotHubError keeps code, cause, connack, status and the rule of a protocol-error cause', () => {
    const cause = new MqttProtocolError('MQTT-3.3.1-4', 'QoS 3');
    const e = new AzureIotHubError('EPROTO', 'bad packet', { cause, connack: 5, status: 400 });
    expect(e).toMatchObject({ name: 'AzureIotHubError', code: 'EPROTO', connack: 5, status: 400, rule: 'MQTT-3.3.1-4' });
    expect(e.cause).toBe(cause);
    expect(toAzureIotHubError(cause, 'EIO')).toMatchObject({ code: 'EPROTO', rule: 'MQTT-3.3.1-4' });
    expect(toAzureIotHubError(new Error('x'), 'EIO')).toMatchObject({ code: 'EIO', message: 'x' });
  });

  it('instanceof holds for instances of another copy of the classes, and not for look-alikes', async () => {
    vi.resetModules();
    // A query string makes the module loader instantiate the files again: new copies of the classes.
    const other = (await import(`../src/errors.js?${'copy'}`)) as typeof import('../src/errors.js');
    const otherCodec = (await import(`../src/codec/errors.js?${'copy'}`)) as typeof import('../src/codec/errors.js');
    expect(otherCodec.MqttProtocolError).not.toBe(MqttProtocolError);
    expect(other.AzureIotHubError).not.toBe(AzureIotHubError);
    const foreign = new other.AzureIotHubError('EIO', 'from the other copy');
    expect(foreign).toBeInstanceOf(AzureIotHubError);
    expect(new AzureIotHubError('EIO', 'here')).toBeInstanceOf(other.AzureIotHubError);
    expect(new otherCodec.MqttProtocolError('MQTT-2.2.1', 'x')).toBeInstanceOf(MqttProtocolError);
    expect(new MqttProtocolError('MQTT-2.2.1', 'x')).toBeInstanceOf(otherCodec.MqttProtocolError);
    expect(foreign).not.toBeInstanceOf(MqttProtocolError);
    expect({ code: 'EIO', name: 'AzureIotHubError' }).not.toBeInstanceOf(AzureIotHubError);
    expect(new Error('plain')).not.toBeInstanceOf(AzureIotHubError);
    expect(null).not.toBeInstanceOf(AzureIotHubError);
  });
});
