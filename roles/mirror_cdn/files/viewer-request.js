// CloudPyPI viewer-request function (runtime cloudfront-js-2.0).
// Attached to /simple/* AND the default behaviour. It:
//  - rewrites /simple/ and /simple/<name>/ to the stored page chosen by PEP 691 negotiation
//    (Accept with q-values, or ?format=), so the cache key is the object and Accept need not be in it;
//  - 301s a non-normalized name (PEP 503) or a missing trailing slash, keeping the query string;
//  - passes /packages/... unchanged;
//  - serves /pypi/<name>/json (the legacy JSON API, a stored object), 301 to the normalized name;
//  - answers 404 for anything else (/, bucket listing, .cloudpypi/ state, traversal) and 406 when
//    nothing acceptable can be served.
// The same rules live in scripts/cloudpypi/edge/rules.py; tests/edge/cases.json checks both.
//
// Access control, before every other rule, when the deploy turns tokens on: it then prepends
// templates/viewer-request-auth.js.j2, which imports the CloudFront KeyValueStore and defines AUTH.
// The request needs HTTP Basic NAME:TOKEN, and the SHA-256 of TOKEN must equal the store's value
// under NAME; anything else gets 401.  Twin: scripts/cloudpypi/edge/auth.py; table: auth_cases.json.

var OFFERS = [
  ['application/vnd.pypi.simple.v1+json', 'index.v1_json'],
  ['application/vnd.pypi.simple.v1+html', 'index.v1_html'],
  ['text/html', 'index.html']
];
var ALIASES = {
  'application/vnd.pypi.simple.latest+json': 'application/vnd.pypi.simple.v1+json',
  'application/vnd.pypi.simple.latest+html': 'application/vnd.pypi.simple.v1+html'
};
var NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
var TYPE_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+\/[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
var Q_RE = /^([0-9]+(\.[0-9]*)?|\.[0-9]+)$/;

function trim(s) { return s.replace(/^[ \t]+|[ \t]+$/g, ''); }

function respond(code, text, headers) {
  return {statusCode: code, statusDescription: text, headers: headers || {}};
}

function redirect(location) { return respond(301, 'Moved Permanently', {location: {value: location}}); }

// Accept (or ?format=) -> file name of the page to serve, or null when nothing is acceptable.
function negotiate(accept) {
  if (accept === null || trim(accept) === '') { return 'index.html'; }
  var ranges = [];
  var parts = accept.split(',');
  for (var i = 0; i < parts.length; i++) {
    var params = parts[i].split(';');
    var type = trim(params[0]);
    if (!TYPE_RE.test(type)) { continue; }
    type = type.toLowerCase();
    if (ALIASES[type]) { type = ALIASES[type]; }
    var q = 1, ok = true;
    for (var j = 1; j < params.length; j++) {
      var kv = params[j].split('=');
      if (trim(kv[0]).toLowerCase() === 'q') {
        var qs = trim(kv[1] || '');
        q = Q_RE.test(qs) ? parseFloat(qs) : 2;
        ok = q <= 1;
        break; // parameters after q are accept-extensions: ignored
      }
    }
    if (ok) { ranges.push([type, q]); }
  }
  var best = null, bestQ = 0;
  for (var k = 0; k < OFFERS.length; k++) {
    var offer = OFFERS[k][0], major = offer.split('/')[0];
    var spec = -1, oq = 0;
    for (var r = 0; r < ranges.length; r++) {
      var t = ranges[r][0], s = -1;
      if (t === offer) { s = 2; } else if (t === major + '/*') { s = 1; } else if (t === '*/*') { s = 0; }
      if (s > spec) { spec = s; oq = ranges[r][1]; }
    }
    if (oq > bestQ) { best = OFFERS[k][1]; bestQ = oq; }
  }
  return best;
}

function notAcceptable() { return respond(406, 'Not Acceptable', {vary: {value: 'Accept'}}); }

function decode(s) {
  try { return decodeURIComponent(s); } catch (e) { return null; }
}

function queryString(qs) {
  var out = [];
  for (var name in qs) {
    var item = qs[name];
    var values = item.multiValue ? item.multiValue : [item];
    for (var i = 0; i < values.length; i++) { out.push(name + '=' + values[i].value); }
  }
  return out.join('&');
}

var TOKEN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
var B64_RE = /^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=)?$/;
var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
var NO_HASH = '0000000000000000000000000000000000000000000000000000000000000000';

// Canonical base64 -> text, or null when a decoded byte is not printable ASCII.
function base64Text(s) {
  var out = '', acc = 0, bits = 0;
  for (var i = 0; i < s.length && s.charAt(i) !== '='; i++) {
    acc = ((acc << 6) | B64.indexOf(s.charAt(i))) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      var b = (acc >> bits) & 255;
      if (b < 32 || b > 126) { return null; }
      out += String.fromCharCode(b);
    }
  }
  return out;
}

// [name, token] from Authorization: Basic, or null.
function credentials(request) {
  var h = (request.headers || {}).authorization;
  if (!h) { return null; }
  var value = trim(h.value), sp = value.indexOf(' ');
  if (sp < 0 || value.slice(0, sp).toLowerCase() !== 'basic') { return null; }
  var encoded = trim(value.slice(sp + 1));
  if (encoded === '' || !B64_RE.test(encoded)) { return null; }
  var text = base64Text(encoded);
  var colon = text === null ? -1 : text.indexOf(':');
  if (colon < 1 || colon === text.length - 1) { return null; }
  var name = text.slice(0, colon);
  return TOKEN_NAME_RE.test(name) ? [name, text.slice(colon + 1)] : null;
}

// Equal 64-character hex strings, compared in time independent of where they differ.
function sameHash(a, b) {
  var diff = 0;
  for (var i = 0; i < 64; i++) { diff |= a.charCodeAt(i) ^ b.charCodeAt(i); }
  return diff === 0;
}

async function authorized(request) {
  var c = credentials(request);
  if (c === null) { return false; }
  var stored = null;
  try { stored = await AUTH.store.get(c[0]); } catch (e) { stored = null; } // get() throws on a missing key
  var known = typeof stored === 'string' && /^[0-9a-f]{64}$/.test(stored);
  var match = sameHash(AUTH.sha256(c[1]), known ? stored : NO_HASH);
  return match && known;
}

async function handler(event) {
  if (typeof AUTH !== 'undefined' && !(await authorized(event.request))) {
    return respond(401, 'Unauthorized', {
      'www-authenticate': {value: 'Basic realm="cloudpypi", charset="UTF-8"'},
      'cache-control': {value: 'no-store'}
    });
  }
  return route(event);
}

function route(event) {
  var request = event.request;
  var uri = request.uri;
  var qs = request.querystring || {};
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return respond(405, 'Method Not Allowed', {allow: {value: 'GET, HEAD'}});
  }
  var path = decode(uri);
  if (path === null || /[\\\x00%]/.test(path) || path.charAt(0) !== '/') { return respond(404, 'Not Found'); }
  var segs = path.split('/');
  for (var i = 1; i < segs.length; i++) {
    if (segs[i] === '.' || segs[i] === '..' || (segs[i] === '' && i < segs.length - 1)) {
      return respond(404, 'Not Found');
    }
  }
  var query = queryString(qs);
  var suffix = query ? '?' + query : '';
  if (segs[1] === 'packages') {
    if (segs.length < 3 || segs[segs.length - 1] === '') { return respond(404, 'Not Found'); }
    return request;
  }
  if (segs[1] === 'pypi') {
    if (segs.length !== 4 || segs[3] !== 'json' || !NAME_RE.test(segs[2])) { return respond(404, 'Not Found'); }
    var project = segs[2].toLowerCase().replace(/[-_.]+/g, '-');
    if (project !== segs[2]) { return redirect('/pypi/' + project + '/json' + suffix); }
    request.uri = '/pypi/' + project + '/json';
    request.querystring = {};
    return request;
  }
  if (segs[1] !== 'simple') { return respond(404, 'Not Found'); }
  if (segs.length === 2) { return redirect('/simple/' + suffix); }
  var dir = '/simple/';
  if (segs.length > 4 || (segs.length === 4 && segs[3] !== '')) { return respond(404, 'Not Found'); }
  if (segs[2] !== '') {
    if (!NAME_RE.test(segs[2])) { return respond(404, 'Not Found'); }
    var name = segs[2].toLowerCase().replace(/[-_.]+/g, '-');
    if (name !== segs[2] || segs.length === 3) {
      return redirect('/simple/' + name + '/' + suffix);
    }
    dir += name + '/';
  }
  var h = (request.headers || {}).accept, accept = null;
  if (h) { accept = h.multiValue ? h.multiValue.map(function (v) { return v.value; }).join(',') : h.value; }
  var format = qs.format ? decode(qs.format.value) : null;
  if (qs.format && format === null) { return notAcceptable(); }
  var page = negotiate(format !== null && trim(format) !== '' ? format : accept);
  if (page === null) { return notAcceptable(); }
  request.uri = dir + page;
  request.querystring = {};
  return request;
}
