/**
 * Bundle-size entry, Microsoft's SDK: the same program as `ours.ts` (connect with a SAS key, send one message with
 * two properties, close), written as the SDK's documentation shows. `CONNECTION_STRING`, `CA_PEM` from the
 * environment.
 */
import { Client, Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';

const client = Client.fromConnectionString(process.env['CONNECTION_STRING'] ?? '', Mqtt);
if (process.env['CA_PEM'] !== undefined) await client.setOptions({ ca: process.env['CA_PEM'] });
await client.open();
const message = new Message('{"temperature":21.5}');
message.properties.add('alert', 'false');
message.properties.add('sensor', 'therm-7');
await client.sendEvent(message);
console.log('sent');
await client.close();
