// Merkle root of a file with the official TS storage SDK (@0gfoundation/0g-ts-sdk 1.2.8):
// node merkle.mjs <input.json> with {path, repeat}; prints {"seconds": [...], "root": "0x.."}.
import { readFileSync } from 'node:fs';
import { ZgFile } from '@0gfoundation/0g-ts-sdk';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const seconds = [];
let root = null;
for (let i = 0; i < input.repeat; i++) {
  const start = performance.now();
  const file = await ZgFile.fromFilePath(input.path);
  const [tree, err] = await file.merkleTree();
  await file.close();
  if (err !== null) throw err;
  root = tree.rootHash();
  seconds.push((performance.now() - start) / 1000);
}
process.stdout.write(JSON.stringify({ seconds, root }));
