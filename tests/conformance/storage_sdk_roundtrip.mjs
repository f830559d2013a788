// Official 0G storage TS SDK (@0gfoundation/0g-ts-sdk, unchanged) against the devnet storage
// node + indexer: `upload` pays the Flow through ethers and uploads through the indexer's
// nodes, then downloads the root back; `download` only downloads. The last stdout line is
// RESULT <json>; the SDK's own logging goes before it.
import { Indexer, ZgFile } from '@0gfoundation/0g-ts-sdk';
import { ethers } from 'ethers';

const [mode, indexerUrl, rpcUrl, privateKey, inPath, outPath, rootArg] = process.argv.slice(2);
const indexer = new Indexer(indexerUrl);

async function upload() {
  const provider = new ethers.JsonRpcProvider(rpcUrl);
  const signer = new ethers.Wallet(privateKey, provider);
  const file = await ZgFile.fromFilePath(inPath);
  const [tree, treeErr] = await file.merkleTree();
  if (treeErr !== null) throw treeErr;
  const [result, err] = await indexer.upload(file, rpcUrl, signer);
  await file.close();
  if (err !== null) throw err;
  const downloadErr = await indexer.download(result.rootHash, outPath, true);
  if (downloadErr !== null) throw downloadErr;
  return { root: tree.rootHash(), ...result };
}

async function download() {
  const err = await indexer.download(rootArg, outPath, true);
  if (err !== null) throw err;
  return { root: rootArg };
}

try {
  const result = mode === 'upload' ? await upload() : await download();
  console.log('RESULT ' + JSON.stringify(result));
} catch (e) {
  console.log('RESULT ' + JSON.stringify({ error: String(e?.message ?? e) }));
  process.exitCode = 1;
}
