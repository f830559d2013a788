// The official TS SDK's signing path (ethers 6, as @0gfoundation/0g-compute-ts-sdk 0.9.0 uses it),
// timed in batches: node signing.mjs <input.json>. Prints {"sign": [ops/s...], ...} as JSON.
// Tokens are built exactly as the SDK's generateSessionToken does; verification mirrors what a
// provider checks (Go serving broker) with ethers' recovery; intents are verified as a TS
// service would with ethers.verifyMessage / verifyTypedData.
import { readFileSync } from 'node:fs';
import { Wallet, keccak256, toUtf8Bytes, getBytes, getAddress, verifyMessage, verifyTypedData } from 'ethers';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const wallet = new Wallet(input.key);
const PREFIX = 'Bearer app-sk-';
const DAY_MS = 24 * 60 * 60 * 1000;

function sdkNonce() {
  // The SDK's Node.js branch of generateNonce.
  const randomStr = Math.random().toString(36).substring(2, 15);
  return `${Date.now()}-${randomStr}`.padEnd(32, '0');
}

async function issueToken() {
  const timestamp = Date.now();
  const token = {
    address: wallet.address, provider: input.provider, timestamp,
    expiresAt: timestamp + DAY_MS, nonce: sdkNonce(), generation: 0, tokenId: 255,
  };
  const message = JSON.stringify(token);
  const messageHash = keccak256(toUtf8Bytes(message));
  const signature = await wallet.signMessage(Buffer.from(messageHash.slice(2), 'hex'));
  return `Bearer app-sk-${Buffer.from(message + '|' + signature).toString('base64')}`;
}

function checkToken(header) {
  if (!header.startsWith(PREFIX)) throw new Error('missing header');
  const payload = Buffer.from(header.slice(PREFIX.length), 'base64');
  const bar = payload.indexOf(0x7c);
  if (bar < 0) throw new Error('invalid payload');
  const tokenBytes = payload.subarray(0, bar);
  const signature = payload.subarray(bar + 1).toString('utf8');
  const token = JSON.parse(tokenBytes.toString('utf8'));
  if (token.provider.toLowerCase() !== input.provider.toLowerCase()) throw new Error('provider');
  if (token.tokenId === 255) {
    if (token.expiresAt === 0) throw new Error('ephemeral without expiry');
    if (token.expiresAt - token.timestamp > DAY_MS) throw new Error('too long');
  }
  if (token.expiresAt !== 0 && Date.now() > token.expiresAt) throw new Error('expired');
  if (token.generation !== 0) throw new Error('generation');
  if ((0n >> BigInt(token.tokenId)) & 1n) throw new Error('revoked');
  const recovered = verifyMessage(getBytes(keccak256(tokenBytes)), signature);
  if (recovered.toLowerCase() !== token.address.toLowerCase()) throw new Error('signer');
  return recovered;
}

const INTENT = /^(?:Initialize 0G Broker|Fund (?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])? OG|Analyze dream|Check balance) for (?<address>0x[0-9a-fA-F]{40}) at (?<ts>[0-9]+)(?: nonce (?<nonce>\S+))?$/;

function checkWindow(timestampMs) {
  if (Math.abs(Date.now() - timestampMs) > input.windowMs) throw new Error('timestamp');
}

function checkIntent191(item, seen) {
  const m = INTENT.exec(item.message);
  if (!m) throw new Error('malformed');
  const address = getAddress(m.groups.address);
  checkWindow(Number(m.groups.ts));
  const recovered = verifyMessage(item.message, item.signature);
  if (recovered !== address) throw new Error('signer');
  const nonce = `${address}:${m.groups.nonce ?? 'm:' + keccak256(toUtf8Bytes(item.message))}`;
  if (seen.has(nonce)) throw new Error('replay');
  seen.add(nonce);
}

const DOMAIN = { name: 'zerog', version: '1', chainId: input.chainId };
const TYPES = { WalletIntent: [
  { name: 'action', type: 'string' }, { name: 'address', type: 'address' },
  { name: 'amount', type: 'uint256' }, { name: 'nonce', type: 'uint256' },
  { name: 'timestamp', type: 'uint256' },
] };

function checkIntent712(item, seen) {
  const address = getAddress(item.value.address);
  checkWindow(Number(item.value.timestamp));
  const recovered = verifyTypedData(DOMAIN, TYPES, item.value, item.signature);
  if (recovered !== address) throw new Error('signer');
  const nonce = `${address}:${item.value.nonce}`;
  if (seen.has(nonce)) throw new Error('replay');
  seen.add(nonce);
}

async function rates(batches, size, once) {
  const out = [];
  // The first batch warms the JIT up and is not counted (the Python side drops one too).
  for (let b = 0; b <= batches; b++) {
    const seen = new Set();
    const start = performance.now();
    for (let i = 0; i < size; i++) await once(i, seen);
    if (b > 0) out.push(size / ((performance.now() - start) / 1000));
  }
  return out;
}

const n = input.peerSize;
const result = {
  sign: await rates(input.batches, n, async () => issueToken()),
  verifyTokens: await rates(input.batches, n, async (i) => checkToken(input.tokens[i])),
  verify191: await rates(input.batches, n, async (i, seen) => checkIntent191(input.intents191[i], seen)),
  verify712: await rates(input.batches, n, async (i, seen) => checkIntent712(input.intents712[i], seen)),
};
process.stdout.write(JSON.stringify(result));
