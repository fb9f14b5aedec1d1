#!/usr/bin/env node
// Runs the real CloudFront viewer-request function file under node, in a vm context that holds
// only the function's own globals (no require, no process), with events shaped as CloudFront
// Functions shapes them (lowercase headers of {value[, multiValue]}, querystring of {value[, multiValue]}).
//
//   node run_function.js FUNCTION.js CASES.json   check every case; print failures; exit 1 on any
//   node run_function.js FUNCTION.js --stdin      read [{method, uri, querystring, headers}] from stdin,
//                                                 print the normalized results as JSON (used by pytest)
'use strict';
const fs = require('fs');
const vm = require('vm');

function loadHandler(path) {
  const context = vm.createContext({});
  vm.runInContext(fs.readFileSync(path, 'utf8'), context, {filename: path, timeout: 1000});
  if (typeof context.handler !== 'function') {
    throw new Error(path + ' defines no function handler(event)');
  }
  return context.handler;
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

function run(handler, c) {
  try {
    return normalize(handler(toEvent(c)));
  } catch (e) {
    return {error: String(e && e.stack || e)};
  }
}

function main(argv) {
  const handler = loadHandler(argv[0]);
  if (argv[1] === '--stdin') {
    const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
    process.stdout.write(JSON.stringify(cases.map((c) => run(handler, c))));
    return 0;
  }
  const table = JSON.parse(fs.readFileSync(argv[1], 'utf8'));
  let failed = 0;
  for (const c of table.cases) {
    const got = run(handler, c);
    if (JSON.stringify(got) !== JSON.stringify(c.expect)) {
      failed += 1;
      console.log('FAIL ' + c.name + ': expected ' + JSON.stringify(c.expect) + ', got ' + JSON.stringify(got));
    }
  }
  console.log((table.cases.length - failed) + '/' + table.cases.length + ' cases pass');
  return failed ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
