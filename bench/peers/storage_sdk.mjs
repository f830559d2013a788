// Peer of bench/storage.py: the official 0G storage TS SDK (@0gfoundation/0g-ts-sdk, unchanged)
// uploading and downloading the given files against the devnet indexer, `concurrency` at a time.
// Its upload is a per-file flow (merkle tree, Flow submit paid through ethers by the signer,
// segments to the nodes, wait for finality), so each worker has a wallet of its own (no shared
// nonce). Input: {indexer, rpc, keys: [...], rounds: [[path, ...], ...], outDir}; output on
// stdout: per round the wall seconds and per-file milliseconds of uploads, then of downloads.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Indexer, ZgFile } from '@0gfoundation/0g-ts-sdk';
import { ethers } from 'ethers';

// The SDK estimates the submit's gas at the latest block; with 8 uploads in flight the Flow has
// grown by the time it is mined and the estimate runs out of gas (devnet/README.md: every
// sender adds a margin, as the broker does for ours). A fixed limit with room is the option
// the SDK itself offers for that.
const GAS_LIMIT = 1_000_000n;

// The SDK logs every step to stdout; stdout is for the result only.
console.log = (...args) => console.error(...args);

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const indexer = new Indexer(input.indexer);

async function inParallel(items, workers, each) {
  const millis = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (next < items.length) {
        const index = next++;
        const t0 = performance.now();
        await each(items[index], worker, index);
        millis.push(performance.now() - t0);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, millis };
}

const signers = input.keys.map(
  (key) => new ethers.Wallet(key, new ethers.JsonRpcProvider(input.rpc)),
);

async function upload(path, worker) {
  const file = await ZgFile.fromFilePath(path);
  try {
    const [result, err] = await indexer.upload(file, input.rpc, signers[worker], undefined, undefined, {
      gasLimit: GAS_LIMIT,
    });
    if (err !== null) throw err;
    return result.rootHash;
  } finally {
    await file.close();
  }
}

const rounds = [];
for (const [r, paths] of input.rounds.entries()) {
  const roots = new Array(paths.length);
  const put = await inParallel(paths, signers.length, async (path, worker, index) => {
    roots[index] = await upload(path, worker);
  });
  const get = await inParallel(roots, signers.length, async (root, _worker, index) => {
    const err = await indexer.download(root, join(input.outDir, `sdk-get-${r}-${index}.bin`), true);
    if (err !== null) throw err;
  });
  rounds.push({ put, get, roots });
}
process.stdout.write(JSON.stringify({ rounds }));
