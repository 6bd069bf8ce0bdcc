/**
 * Profiling harness: runs one benchmark case in a tight loop for a few seconds, without benny, so that
 * `node --cpu-prof` sees only the code under test.
 *
 * Bundle it first, so that the profile keeps line numbers (under tsx every function reports line 1):
 *
 *   npx esbuild bench/experiments/profile.ts --bundle --platform=node --format=esm \
 *     --outfile=.tmp/bench-profile.mjs --external:mqtt-packet --external:benny
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof .tmp/bench-profile.mjs decode 16 "one chunk"   # or: encode 16, chunks 16
 *   node bench/experiments/top-functions.mjs /tmp/prof
 */
import { decodeInput, encodeInput, packetsPerStream, publishPackets } from '../lib/fixtures.js';
import type { Chunking, PayloadSize } from '../lib/fixtures.js';
import { checked, oursDecoder, oursEncode, oursEncodeChunks } from '../lib/sides.js';

const [what = 'decode', sizeArg = '16', chunking = 'one chunk', secondsArg = '3'] = process.argv.slice(2);
const size = Number(sizeArg) as PayloadSize;
const n = packetsPerStream(size, chunking as Chunking);
let op: () => void;
if (what === 'decode') op = checked(oursDecoder(), decodeInput(publishPackets(size, n), chunking as Chunking));
else if (what === 'encode') op = oursEncode(encodeInput(publishPackets(size, n)));
else op = oursEncodeChunks(encodeInput(publishPackets(size, n)));

const until = performance.now() + Number(secondsArg) * 1000;
let ops = 0;
while (performance.now() < until) {
  for (let i = 0; i < 100; i++) op();
  ops += 100;
}
const seconds = Number(secondsArg);
console.log(`${what} ${size} B ${chunking}: ${((ops * n) / seconds / 1e6).toFixed(2)} M packets/s (profiler overhead included)`);
