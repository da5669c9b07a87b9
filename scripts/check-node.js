#!/usr/bin/env node
/*
 * Run by npm before `npm start`, `npm test` and `npm run start:dev` (pre-scripts): on a Node that
 * is not on .nvmrc's line (same major, not older) it stops with one line naming the version and
 * how to get it. `npm ci` and `npm install` stop earlier, on package.json's engines
 * (engine-strict=true in .npmrc). Written for any old Node: no syntax newer than ES2015.
 */
'use strict';
var fs = require('fs');
var path = require('path');

var wanted = fs
  .readFileSync(path.join(__dirname, '..', '.nvmrc'), 'utf8')
  .trim()
  .replace(/^v/, '');
var have = process.versions.node;
var w = wanted.split('.').map(Number);
var h = have.split('.').map(Number);
var onLine = h[0] === w[0] && (h[1] > w[1] || (h[1] === w[1] && h[2] >= w[2]));

if (!onLine) {
  var how = `\`nvm install\` (reads .nvmrc), or run once with \`npx -p node@${wanted} npm <command>\``;
  process.stderr.write(
    `This project runs on Node ${w[0]} (${wanted} or newer ${w[0]}.x, from .nvmrc); this is Node ${have}. Get it with ${how}.\n`,
  );
  process.exit(1);
}
