// Builds devnet/build/*.json ({contractName, abi, bytecode}) for every contract the devnet deploys:
// our Solidity (compiled offline with the npm solcjs), the real 0G LedgerManager and
// InferenceServing (bytecode shipped in the compute SDK's typechain factories) and
// OpenZeppelin's ERC1967Proxy. Skips all work when the inputs' hash matches the last build.
//
// Usage: node devnet/compile.mjs [--force]   (prints "up to date" or "built N contracts")
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const nodeModules = path.join(root, 'node_modules');
const sourcesDir = path.join(here, 'contracts');
const buildDir = path.join(here, 'build');
const manifestPath = path.join(buildDir, 'manifest.json');
const require = createRequire(path.join(root, 'package.json'));

// The contracts we compile, by the name of their main file.
const OUR_CONTRACTS = ['Flow', 'FixedPriceMarket'];
// A conservative EVM target: no opcode newer than Cancun, so the bytecode runs on any current chain.
const EVM_VERSION = 'cancun';
const COMPUTE_SDK = '@0gfoundation/0g-compute-ts-sdk';
const SDK_FACTORIES = {
  LedgerManager: 'lib.commonjs/ledger/contract/typechain/factories/LedgerManager__factory.js',
  InferenceServing: 'lib.commonjs/inference/contract/typechain/factories/InferenceServing__factory.js',
};
const PROXY_ARTIFACT = '@openzeppelin/contracts/build/contracts/ERC1967Proxy.json';
// Warnings that the ABI forces on us (see the comment on Flow.computeFlowRoot).
const EXPECTED_WARNINGS = [/can be restricted to view[\s\S]*computeFlowRoot/];
// Third-party sources' warnings (e.g. OpenZeppelin's future-keyword notices) are not ours to fix.
const isThirdParty = (problem) => problem.sourceLocation?.file?.startsWith('@') ?? false;

// Atomic (write, then rename): a devnet starting in parallel never reads half a file.
function writeJson(file, value) {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(value, null, 1));
  fs.renameSync(temporary, file);
}

function packageVersion(name) {
  return JSON.parse(fs.readFileSync(path.join(nodeModules, name, 'package.json'), 'utf8')).version;
}

function inputsHash(sources) {
  const hash = createHash('sha256');
  hash.update(fs.readFileSync(fileURLToPath(import.meta.url)));
  for (const name of ['solc', '@openzeppelin/contracts', COMPUTE_SDK]) {
    hash.update(`${name}@${packageVersion(name)}\n`);
  }
  for (const [file, { content }] of Object.entries(sources)) {
    hash.update(`${file}\n${content}\n`);
  }
  return hash.digest('hex');
}

function readSources() {
  const sources = {};
  for (const file of fs.readdirSync(sourcesDir).filter((f) => f.endsWith('.sol')).sort()) {
    sources[file] = { content: fs.readFileSync(path.join(sourcesDir, file), 'utf8') };
  }
  return sources;
}

function findImport(importPath) {
  const candidate = importPath.startsWith('@')
    ? path.join(nodeModules, importPath)
    : path.join(sourcesDir, importPath);
  try {
    return { contents: fs.readFileSync(candidate, 'utf8') };
  } catch {
    return { error: `not found: ${importPath}` };
  }
}

async function compileOurs(sources) {
  const solc = (await import('solc')).default;
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const problems = output.errors ?? [];
  const errors = problems.filter((p) => p.severity === 'error');
  for (const p of problems) {
    const expected = isThirdParty(p) || EXPECTED_WARNINGS.some((re) => re.test(p.formattedMessage));
    if (p.severity !== 'error' && !expected) {
      process.stderr.write(p.formattedMessage);
    }
  }
  if (errors.length > 0) {
    for (const e of errors) process.stderr.write(e.formattedMessage);
    process.exit(1);
  }
  return OUR_CONTRACTS.map((name) => {
    const contract = output.contracts[`${name}.sol`][name];
    return { contractName: name, abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
  });
}

function sdkContracts() {
  const artifacts = Object.entries(SDK_FACTORIES).map(([name, file]) => {
    // By path: the SDK's package "exports" do not expose its typechain factories.
    const factory = require(path.join(nodeModules, COMPUTE_SDK, file))[`${name}__factory`];
    return { contractName: name, abi: factory.abi, bytecode: factory.bytecode };
  });
  const proxy = JSON.parse(fs.readFileSync(path.join(nodeModules, PROXY_ARTIFACT), 'utf8'));
  artifacts.push({ contractName: 'ERC1967Proxy', abi: proxy.abi, bytecode: proxy.bytecode });
  return artifacts;
}

async function main() {
  const sources = readSources();
  const hash = inputsHash(sources);
  const force = process.argv.includes('--force');
  if (!force && fs.existsSync(manifestPath)) {
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    if (manifest.inputsHash === hash) {
      console.log('up to date');
      return;
    }
  }
  const artifacts = [...(await compileOurs(sources)), ...sdkContracts()];
  fs.mkdirSync(buildDir, { recursive: true });
  for (const artifact of artifacts) {
    writeJson(path.join(buildDir, `${artifact.contractName}.json`), artifact);
  }
  // Written last: a build interrupted before this point is redone next time.
  const manifest = {
    inputsHash: hash,
    solc: packageVersion('solc'),
    evmVersion: EVM_VERSION,
    contracts: artifacts.map((a) => a.contractName),
  };
  writeJson(manifestPath, manifest);
  console.log(`built ${artifacts.length} contracts`);
}

await main();
