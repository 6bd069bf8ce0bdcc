/**
 * A hostile hub, part 1: every kind of malformed packet the codec refuses (one fixture per decoding rule, in the
 * server-to-client direction) and every well-formed packet a server must not send, written as raw bytes to a
 * connected client over TLS through the emulator's `faults.sendRaw`. For each: an ERROR event with `EPROTO` and the
 * MQTT rule, DISCONNECTED with the same error, and the reconnection (READY again); the process never crashes and
 * memory stays bounded over the whole run (measured after forced garbage collection).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { closeClients, configFor, connectedClient, packets, sasDevice } from '../azure/client/harness.js';
import { bytes, packetBytes, str, u16 } from '../helpers/fixtures.js';
import { expectErrorThenReady, expectMemoryGrowthBelow, memory, MiB } from './helpers.js';

/** A server-to-client packet and the rule the client must name when it drops the connection. */
interface HostileFixture {
  name: string;
  bytes: Uint8Array;
  rule: string;
}

const MQTT4 = bytes(u16(4), 'MQTT', 0x04);
const KEEPALIVE = u16(60);

/** One fixture (at least) per rule the decoder enforces. */
export const MALFORMED: HostileFixture[] = [
  // Fixed header (section 2.2)
  { name: 'packet type 0 (reserved)', bytes: bytes(0x00, 0x00), rule: 'MQTT-2.2.1' },
  { name: 'packet type 15 (reserved; AUTH exists only in MQTT 5)', bytes: bytes(0xf0, 0x00), rule: 'MQTT-2.2.1' },
  { name: 'CONNACK flags 1000', bytes: bytes(0x28, 2, 0, 0), rule: 'MQTT-2.2.2-1' },
  { name: 'PUBACK flags 0001', bytes: bytes(0x41, 2, u16(1)), rule: 'MQTT-2.2.2-1' },
  { name: 'PUBREC flags 0010', bytes: bytes(0x52, 2, u16(1)), rule: 'MQTT-2.2.2-1' },
  { name: 'PUBCOMP flags 1000', bytes: bytes(0x78, 2, u16(1)), rule: 'MQTT-2.2.2-1' },
  { name: 'SUBACK flags 0001', bytes: bytes(0x91, 3, u16(1), 0), rule: 'MQTT-2.2.2-1' },
  { name: 'UNSUBACK flags 0100', bytes: bytes(0xb4, 2, u16(1)), rule: 'MQTT-2.2.2-1' },
  { name: 'PINGRESP flags 1000', bytes: bytes(0xd8, 0), rule: 'MQTT-2.2.2-1' },
  { name: 'PINGREQ flags 0001', bytes: bytes(0xc1, 0), rule: 'MQTT-2.2.2-1' },
  { name: 'DISCONNECT flags 0010', bytes: bytes(0xe2, 0), rule: 'MQTT-2.2.2-1' },
  { name: 'CONNECT flags 0001', bytes: packetBytes(0x11, MQTT4, 0x02, KEEPALIVE, str('a')), rule: 'MQTT-2.2.2-1' },
  { name: 'PUBREL flags 0000', bytes: bytes(0x60, 2, u16(1)), rule: 'MQTT-3.6.1-1' },
  { name: 'SUBSCRIBE flags 0000', bytes: packetBytes(0x80, u16(1), str('a'), 0), rule: 'MQTT-3.8.1-1' },
  { name: 'UNSUBSCRIBE flags 0000', bytes: packetBytes(0xa0, u16(1), str('a')), rule: 'MQTT-3.10.1-1' },
  { name: 'PUBLISH QoS 3', bytes: packetBytes(0x36, str('t'), u16(1)), rule: 'MQTT-3.3.1-4' },
  { name: 'PUBLISH QoS 0 with DUP', bytes: packetBytes(0x38, str('t'), 'x'), rule: 'MQTT-3.3.1-2' },
  // Remaining Length and field lengths (section 2.2.3)
  { name: 'Remaining Length with a fifth byte', bytes: bytes(0x30, [0xff, 0xff, 0xff, 0xff, 0x01]), rule: 'MQTT-2.2.3' },
  { name: 'non-minimal Remaining Length (0 as 80 00)', bytes: bytes(0xd0, [0x80, 0x00]), rule: 'MQTT-2.2.3' },
  { name: 'PUBLISH topic length runs past the packet', bytes: bytes(0x30, 3, u16(5), 'a'), rule: 'MQTT-2.2.3' },
  { name: 'PUBLISH too short for its topic length', bytes: bytes(0x30, 1, 0x00), rule: 'MQTT-2.2.3' },
  { name: 'PUBLISH QoS 1 without its packet identifier', bytes: bytes(0x32, 4, str('t'), 0x00), rule: 'MQTT-2.2.3' },
  { name: 'SUBSCRIBE filter without its QoS byte', bytes: packetBytes(0x82, u16(1), str('a')), rule: 'MQTT-2.2.3' },
  { name: 'UNSUBSCRIBE with half a length field', bytes: packetBytes(0xa2, u16(1), str('a'), 0x00), rule: 'MQTT-2.2.3' },
  { name: 'CONNECT without a client identifier', bytes: packetBytes(0x10, MQTT4, 0x02, KEEPALIVE), rule: 'MQTT-2.2.3' },
  // Fixed remaining lengths
  { name: 'CONNACK remaining length 3', bytes: bytes(0x20, 3, 0, 0, 0), rule: 'MQTT-3.2.1' },
  { name: 'PUBACK remaining length 3 (an MQTT 5 reason code)', bytes: bytes(0x40, 3, u16(1), 0), rule: 'MQTT-3.4.1' },
  { name: 'PUBREC remaining length 1', bytes: bytes(0x50, 1, 1), rule: 'MQTT-3.5.1' },
  { name: 'PUBREL remaining length 3', bytes: bytes(0x62, 3, u16(1), 0), rule: 'MQTT-3.6.1' },
  { name: 'PUBCOMP remaining length 0', bytes: bytes(0x70, 0), rule: 'MQTT-3.7.1' },
  { name: 'UNSUBACK remaining length 3', bytes: bytes(0xb0, 3, u16(1), 0), rule: 'MQTT-3.11.1' },
  { name: 'PINGREQ remaining length 1', bytes: bytes(0xc0, 1, 0), rule: 'MQTT-3.12.1' },
  { name: 'PINGRESP remaining length 1', bytes: bytes(0xd0, 1, 0), rule: 'MQTT-3.13.1' },
  { name: 'DISCONNECT remaining length 1 (an MQTT 5 reason code)', bytes: bytes(0xe0, 1, 0), rule: 'MQTT-3.14.1' },
  { name: 'SUBACK without a return code', bytes: bytes(0x90, 2, u16(1)), rule: 'MQTT-3.9.3-1' },
  // CONNACK fields
  { name: 'CONNACK acknowledge flags bit 1', bytes: bytes(0x20, 2, 0x02, 0), rule: 'MQTT-3.2.2.1' },
  { name: 'CONNACK return code 6', bytes: bytes(0x20, 2, 0, 6), rule: 'MQTT-3.2.2.3' },
  { name: 'CONNACK session present with return code 5', bytes: bytes(0x20, 2, 1, 5), rule: 'MQTT-3.2.2-4' },
  // Packet identifiers
  { name: 'PUBLISH QoS 1 with packet identifier 0', bytes: packetBytes(0x32, str('t'), u16(0), 'x'), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBACK packet identifier 0', bytes: bytes(0x40, 2, u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBREC packet identifier 0', bytes: bytes(0x50, 2, u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBREL packet identifier 0', bytes: bytes(0x62, 2, u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'PUBCOMP packet identifier 0', bytes: bytes(0x70, 2, u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'SUBACK packet identifier 0', bytes: bytes(0x90, 3, u16(0), 0), rule: 'MQTT-2.3.1-1' },
  { name: 'UNSUBACK packet identifier 0', bytes: bytes(0xb0, 2, u16(0)), rule: 'MQTT-2.3.1-1' },
  { name: 'SUBSCRIBE packet identifier 0', bytes: packetBytes(0x82, u16(0), str('a'), 0), rule: 'MQTT-2.3.1-1' },
  { name: 'UNSUBSCRIBE packet identifier 0', bytes: packetBytes(0xa2, u16(0), str('a')), rule: 'MQTT-2.3.1-1' },
  // SUBACK / SUBSCRIBE / UNSUBSCRIBE content
  { name: 'SUBACK return code 3', bytes: bytes(0x90, 3, u16(1), 0x03), rule: 'MQTT-3.9.3-2' },
  { name: 'SUBSCRIBE without a topic filter', bytes: bytes(0x82, 2, u16(1)), rule: 'MQTT-3.8.3-3' },
  { name: 'SUBSCRIBE requested QoS 3', bytes: packetBytes(0x82, u16(1), str('a'), 0x03), rule: 'MQTT-3.8.3-4' },
  { name: 'SUBSCRIBE filter a/#/b', bytes: packetBytes(0x82, u16(1), str('a/#/b'), 0), rule: 'MQTT-4.7.1-2' },
  { name: 'SUBSCRIBE filter a+', bytes: packetBytes(0x82, u16(1), str('a+'), 0), rule: 'MQTT-4.7.1-3' },
  { name: 'UNSUBSCRIBE without a topic filter', bytes: bytes(0xa2, 2, u16(1)), rule: 'MQTT-3.10.3-2' },
  // Topic names and UTF-8
  { name: 'PUBLISH empty topic name', bytes: packetBytes(0x30, u16(0), 'x'), rule: 'MQTT-4.7.3-1' },
  { name: 'PUBLISH topic with a + wildcard', bytes: packetBytes(0x30, str('devices/+/x'), 'x'), rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH topic with a # wildcard', bytes: packetBytes(0x32, str('$iothub/#'), u16(1)), rule: 'MQTT-3.3.2-2' },
  { name: 'PUBLISH topic with byte 0xff', bytes: packetBytes(0x30, u16(3), [0x61, 0xff, 0x62]), rule: 'MQTT-1.5.3-1' },
  { name: 'PUBLISH topic with an encoded surrogate', bytes: packetBytes(0x30, u16(3), [0xed, 0xa0, 0x80]), rule: 'MQTT-1.5.3-1' },
  { name: 'PUBLISH topic with an overlong "/"', bytes: packetBytes(0x30, u16(2), [0xc0, 0xaf]), rule: 'MQTT-1.5.3-1' },
  { name: 'PUBLISH topic with U+0000', bytes: packetBytes(0x30, u16(3), [0x61, 0x00, 0x62]), rule: 'MQTT-1.5.3-2' },
  // CONNECT fields (a CONNECT is decoded before the client refuses it as server-to-client)
  { name: 'CONNECT protocol name MQIsdp', bytes: packetBytes(0x10, str('MQIsdp'), 0x03, 0x02, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-1' },
  { name: 'CONNECT protocol level 5', bytes: packetBytes(0x10, str('MQTT'), 0x05, 0x02, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-2' },
  { name: 'CONNECT reserved flag', bytes: packetBytes(0x10, MQTT4, 0x03, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-3' },
  { name: 'CONNECT Will QoS without the Will flag', bytes: packetBytes(0x10, MQTT4, 0x0a, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-13' },
  { name: 'CONNECT Will QoS 3', bytes: packetBytes(0x10, MQTT4, 0x1e, KEEPALIVE, str('c'), str('w'), str('m')), rule: 'MQTT-3.1.2-14' },
  { name: 'CONNECT Will Retain without the Will flag', bytes: packetBytes(0x10, MQTT4, 0x22, KEEPALIVE, str('c')), rule: 'MQTT-3.1.2-15' },
  { name: 'CONNECT password without user name', bytes: packetBytes(0x10, MQTT4, 0x42, KEEPALIVE, str('c'), str('p')), rule: 'MQTT-3.1.2-22' },
  { name: 'CONNECT with bytes after its last field', bytes: packetBytes(0x10, MQTT4, 0x02, KEEPALIVE, str('c'), str('u')), rule: 'MQTT-3.1.3-1' },
  { name: 'CONNECT Will topic with a wildcard', bytes: packetBytes(0x10, MQTT4, 0x04, KEEPALIVE, str('c'), str('w/+'), str('m')), rule: 'MQTT-4.7.1-1' },
];

/** Well-formed packets that a server must never send to a client (refused by the session, not the codec). */
export const WRONG_DIRECTION: HostileFixture[] = [
  { name: 'a second CONNACK', bytes: bytes(0x20, 2, 0, 0), rule: 'MQTT-4.8.0-1' },
  { name: 'a CONNECT from the server', bytes: packetBytes(0x10, MQTT4, 0x02, KEEPALIVE, str('hub')), rule: 'MQTT-2.2.1' },
  { name: 'a SUBSCRIBE from the server', bytes: packetBytes(0x82, u16(9), str('devices/#'), 1), rule: 'MQTT-2.2.1' },
  { name: 'an UNSUBSCRIBE from the server', bytes: packetBytes(0xa2, u16(9), str('a')), rule: 'MQTT-2.2.1' },
  { name: 'a PINGREQ from the server', bytes: bytes(0xc0, 0), rule: 'MQTT-2.2.1' },
  { name: 'a DISCONNECT from the server (MQTT 3.1.1 has none)', bytes: bytes(0xe0, 0), rule: 'MQTT-2.2.1' },
  { name: 'a QoS 2 PUBLISH', bytes: packetBytes(0x34, str('devices/x/messages/devicebound/'), u16(7), 'x'), rule: 'MQTT-3.8.4' },
  { name: 'a PUBREC (this client never sends QoS 2)', bytes: bytes(0x50, 2, u16(1)), rule: 'MQTT-4.3.3' },
  { name: 'a PUBREL', bytes: bytes(0x62, 2, u16(1)), rule: 'MQTT-4.3.3' },
  { name: 'a PUBCOMP', bytes: bytes(0x70, 2, u16(1)), rule: 'MQTT-4.3.3' },
];

let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator({ firmware: false, c2dRedeliveryMs: 0 });
});
afterAll(async () => {
  await closeClients();
  await emu.close();
});

/** A retry after at most 1 ms (the default policy with 0.1 % jitter). */
const quick = { random: () => 0.001 };

describe.each([
  ['malformed packets: one per codec rule', MALFORMED],
  ['well-formed packets a server must not send', WRONG_DIRECTION],
])('%s', (_title, fixtures) => {
  it(`${fixtures.length} cases on one TLS client: each gives ERROR (EPROTO, its rule), DISCONNECTED, then READY again; memory stays bounded`, async () => {
    const d = sasDevice(emu, `hostile-${fixtures === MALFORMED ? 'malformed' : 'direction'}`);
    const { hub, rec } = await connectedClient(configFor(emu, d, { autoTwinRequest: false }), quick);
    const before = await memory();
    const seen: string[] = [];
    for (const f of fixtures) {
      const mark = rec.mark();
      const connects = packets(emu, d.deviceId).filter((e) => e.type === 'connect').length;
      expect(emu.faults.sendRaw(d.deviceId, f.bytes), f.name).toBe(true);
      const err = await expectErrorThenReady(rec, mark);
      expect({ name: f.name, code: err.code, rule: err.rule }).toEqual({ name: f.name, code: 'EPROTO', rule: f.rule });
      expect(err.message.length, f.name).toBeGreaterThan(0);
      // The client closed the connection and opened a new one (MQTT-4.8.0-1).
      expect(packets(emu, d.deviceId).filter((e) => e.type === 'connect').length, f.name).toBe(connects + 1);
      expect(hub.state).toBe('CONNECTED');
      seen.push(f.rule);
    }
    expect(seen).toHaveLength(fixtures.length);
    // Dozens of reconnections leave nothing behind.
    await expectMemoryGrowthBelow(before, 4 * MiB, `${fixtures.length} error/reconnect cycles`);
    // The connection works after all of it.
    expect(await hub.updateReported({ survived: fixtures.length })).toEqual({ version: 2 });
  });
});
