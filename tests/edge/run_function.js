#!/usr/bin/env node
// Runs the real CloudFront viewer-request function file under node, in a vm context that holds
// only the function's own globals (no require, no process), with events shaped as CloudFront
// Functions shapes them (lowercase headers of {value[, multiValue]}, querystring of {value[, multiValue]}).
//
//   node run_function.js FUNCTION.js CASES.json   check every case; print failures; exit 1 on any
//   node run_function.js FUNCTION.js --stdin      read [{method, uri, querystring, headers}] from stdin,
//                                                 print the normalized results as JSON (used by pytest)
//
// With `--prologue FILE --kvs-id ID` (node --experimental-vm-modules), the function runs as the
// deploy ships it with tokens on: FILE (the rendered prologue, which imports 'cloudfront' and
// 'crypto') followed by FUNCTION.js, as an ES module.  'cloudfront' is a stand-in whose cf.kvs(ID)
// answers get(key) from the case's "store" ({name: value}) and rejects a missing key, as the real
// one does; cf.kvs() with any other id throws.  'crypto' offers createHash alone.  A case's
// "kvs_reads" counts the get() calls it made.  `--raw` prints the function's answers as they are.
'use strict';
const fs = require('fs');
const vm = require('vm');
const nodeCrypto = require('crypto');

const kvsState = {store: {}, reads: 0};

function loadHandler(path) {
  const context = vm.createContext({});
  vm.runInContext(fs.readFileSync(path, 'utf8'), context, {filename: path, timeout: 1000});
  if (typeof context.handler !== 'function') {
    throw new Error(path + ' defines no function handler(event)');
  }
  return context.handler;
}

function standInModules(context, kvsId) {
  const kvs = {
    get: async (key) => {
      kvsState.reads += 1;
      if (!Object.prototype.hasOwnProperty.call(kvsState.store, key)) {
        throw new Error('KeyValueStore: key not found');
      }
      return kvsState.store[key];
    },
  };
  const cloudfront = {
    kvs: (id) => {
      if (id !== kvsId) throw new Error('cf.kvs(' + JSON.stringify(id) + '): expected ' + JSON.stringify(kvsId));
      return kvs;
    },
  };
  const crypto = {createHash: (algorithm) => nodeCrypto.createHash(algorithm)};
  return {
    cloudfront: new vm.SyntheticModule(['default'], function () { this.setExport('default', cloudfront); },
      {context}),
    crypto: new vm.SyntheticModule(['default'], function () { this.setExport('default', crypto); }, {context}),
  };
}

async function loadModuleHandler(path, prologuePath, kvsId) {
  const context = vm.createContext({});
  const source = fs.readFileSync(prologuePath, 'utf8') + '\n' + fs.readFileSync(path, 'utf8') +
    '\nexport { handler };\n';
  const modules = standInModules(context, kvsId);
  const module = new vm.SourceTextModule(source, {context, identifier: path});
  await module.link((specifier) => {
    if (!modules[specifier]) throw new Error('cloudfront-js-2.0 offers no module ' + specifier);
    return modules[specifier];
  });
  await module.evaluate({timeout: 1000});
  return module.namespace.handler;
}

function field(values) {
  const list = Array.isArray(values) ? values : [values];
  const out = {value: list[0]};
  if (list.length > 1) {
    out.multiValue = list.map((v) => ({value: v}));
  }
  return out;
}

function toEvent(c) {
  const headers = {};
  for (const [name, value] of Object.entries(c.headers || {})) {
    headers[name.toLowerCase()] = field(value);
  }
  const grouped = {};
  for (const piece of (c.querystring || '').split('&')) {
    if (!piece) continue;
    const at = piece.indexOf('=');
    const name = at < 0 ? piece : piece.slice(0, at);
    const value = at < 0 ? '' : piece.slice(at + 1);
    (grouped[name] = grouped[name] || []).push(value);
  }
  const querystring = {};
  for (const [name, values] of Object.entries(grouped)) {
    querystring[name] = field(values);
  }
  return {
    version: '1.0',
    context: {eventType: 'viewer-request', distributionId: 'ETEST', requestId: 'test'},
    viewer: {ip: '127.0.0.1'},
    request: {method: c.method || 'GET', uri: c.uri, querystring, headers, cookies: {}},
  };
}

function queryString(qs) {
  const out = [];
  for (const [name, item] of Object.entries(qs || {})) {
    for (const v of item.multiValue || [item]) out.push(name + '=' + v.value);
  }
  return out.join('&');
}

// The function's answer in the same normalized shape that scripts/cloudpypi/edge/rules.py gives.
function normalize(result) {
  if (result && typeof result.statusCode === 'number') {
    const out = {status: result.statusCode};
    if (typeof result.statusDescription !== 'string') out.error = 'statusDescription missing';
    const headers = result.headers || {};
    if (headers.location) out.location = headers.location.value;
    return out;
  }
  return {uri: result.uri, querystring: queryString(result.querystring)};
}

async function run(handler, c, raw) {
  kvsState.store = c.store || {};
  kvsState.reads = 0;
  try {
    const answer = await handler(toEvent(c));
    if (raw) return answer;
    const out = normalize(answer);
    if (c.kvs_reads !== undefined) out.kvs_reads = kvsState.reads;
    return out;
  } catch (e) {
    return {error: String(e && e.stack || e)};
  }
}

function option(argv, name) {
  const at = argv.indexOf(name);
  return at < 0 ? null : argv[at + 1];
}

async function main(argv) {
  const prologue = option(argv, '--prologue');
  const handler = prologue ? await loadModuleHandler(argv[0], prologue, option(argv, '--kvs-id'))
    : loadHandler(argv[0]);
  if (argv[1] === '--stdin') {
    const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
    const results = [];
    for (const c of cases) results.push(await run(handler, c, argv.includes('--raw')));
    process.stdout.write(JSON.stringify(results));
    return 0;
  }
  const table = JSON.parse(fs.readFileSync(argv[1], 'utf8'));
  let failed = 0;
  for (const c of table.cases) {
    const got = await run(handler, c);
    if (JSON.stringify(got) !== JSON.stringify(c.expect)) {
      failed += 1;
      console.log('FAIL ' + c.name + ': expected ' + JSON.stringify(c.expect) + ', got ' + JSON.stringify(got));
    }
  }
  console.log((table.cases.length - failed) + '/' + table.cases.length + ' cases pass');
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
  console.error(String(e && e.stack || e));
  process.exitCode = 2;
});
