// The Windows parts of build/exai.exe: the official Node build and koffi's
// native module for win32-x64, both npm packages pinned with their integrity
// in build/windows-parts.json. npm will not install packages of another OS,
// but `npm pack` fetches any package's tarball as it is, through the npm
// cache; the tarball is checked against the pinned integrity and kept in
// build/cache/, so later builds need no registry at all.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/**
 * Writes node.exe and koffi.node for win32-x64 into `stageDir` and returns
 * their paths and the pinned Node version. Throws when a tarball cannot be
 * fetched or does not match its pin.
 */
export function stageWindowsParts(rootDir, stageDir) {
  const pins = JSON.parse(readFileSync(join(rootDir, 'build', 'windows-parts.json'), 'utf8'));
  const cacheDir = join(rootDir, 'build', 'cache');
  mkdirSync(cacheDir, { recursive: true });
  mkdirSync(stageDir, { recursive: true });

  const nodeExe = join(stageDir, 'node.exe');
  const koffiNative = join(stageDir, 'koffi.node');
  writeFileSync(nodeExe, removeSignature(member(pinnedTarball(pins.node, cacheDir), pins.node.member)));
  writeFileSync(koffiNative, member(pinnedTarball(pins.koffi, cacheDir), pins.koffi.member));
  return { nodeExe, koffiNative, nodeVersion: pins.node.version, koffiVersion: pins.koffi.version };
}

// The cached tarball when it matches its pin; otherwise a fresh `npm pack`.
function pinnedTarball(pin, cacheDir) {
  const file = join(cacheDir, `${pin.package.replace('@', '').replace('/', '-')}-${pin.version}.tgz`);
  if (existsSync(file) && integrityOf(readFileSync(file)) === pin.integrity) return file;

  const spec = `${pin.package}@${pin.version}`;
  const packed = npmPack(spec, cacheDir);
  const actual = integrityOf(readFileSync(packed));
  if (actual !== pin.integrity) {
    rmSync(packed, { force: true });
    throw new Error(`Cannot use ${spec}: its tarball has integrity ${actual}, the pin says ${pin.integrity}`);
  }
  if (packed !== file) renameSync(packed, file);
  return file;
}

function npmPack(spec, cacheDir) {
  // Run through npm's own script when the build runs under `npm run`, which
  // also works where `npm` is a .cmd file (Windows).
  const npmCli = process.env.npm_execpath;
  const [command, prefix] = npmCli ? [process.execPath, [npmCli]] : ['npm', []];
  const args = [...prefix, 'pack', spec, '--pack-destination', cacheDir, '--json', '--prefer-offline'];
  let output;
  try {
    output = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`Cannot fetch ${spec} with npm pack: ${err.stderr || err.message}`, { cause: err });
  }
  const [{ filename }] = JSON.parse(output);
  return join(cacheDir, filename);
}

function integrityOf(bytes) {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

// npm tarballs are gzipped ustar archives: 512-byte headers, each followed by
// the file's data padded to 512 bytes. The names here are short, so the
// name and prefix fields hold them whole.
function member(tarball, name) {
  const tar = gunzipSync(readFileSync(tarball));
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    const path = [field(header, 345, 155), field(header, 0, 100)].filter(Boolean).join('/');
    if (path === '') break;

    const size = Number.parseInt(field(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156]);
    const data = offset + 512;
    if (path === name && (type === '0' || type === '\0')) return tar.subarray(data, data + size);
    offset = data + Math.ceil(size / 512) * 512;
  }
  throw new Error(`Cannot find ${name} in ${tarball}`);
}

function field(header, start, length) {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? length : end).toString('utf8');
}

/**
 * Drops the Authenticode signature of a PE file. Injecting the blob changes
 * the file, which would leave node.exe's signature in place but invalid; an
 * unsigned file is the honest state (sign it again after the build if you
 * sign releases). The certificate table is the last thing in the file and
 * the one data directory that holds a file offset rather than an address.
 */
export function removeSignature(pe) {
  const headers = peHeaders(pe);
  const entry = headers.dataDirectories + 4 * 8; // IMAGE_DIRECTORY_ENTRY_SECURITY
  const offset = pe.readUInt32LE(entry);
  const size = pe.readUInt32LE(entry + 4);
  if (size === 0) return pe;

  const end = offset + size;
  if (end > pe.length || pe.length - end >= 8) {
    throw new Error(`Cannot remove the signature: its table (${offset}+${size}) is not at the end of the ${pe.length}-byte file`);
  }
  const unsigned = Buffer.from(pe.subarray(0, offset));
  unsigned.writeUInt32LE(0, entry);
  unsigned.writeUInt32LE(0, entry + 4);
  // The checksum covered the signed file; Windows checks it only for drivers.
  unsigned.writeUInt32LE(0, headers.optionalHeader + 64);
  return unsigned;
}

/**
 * Writes the PE checksum of the file at `path`, after the injection changed
 * it. Windows checks it only for drivers, but signing tools and scanners
 * warn about a wrong one.
 */
export function writePeChecksum(path) {
  const pe = readFileSync(path);
  const field = peHeaders(pe).optionalHeader + 64;
  pe.writeUInt32LE(0, field);

  let sum = 0;
  for (let i = 0; i < pe.length; i += 2) {
    sum += i + 1 < pe.length ? pe.readUInt16LE(i) : pe[i];
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  pe.writeUInt32LE((((sum & 0xffff) + (sum >>> 16)) + pe.length) >>> 0, field);
  writeFileSync(path, pe);
}

function peHeaders(pe) {
  if (pe.toString('latin1', 0, 2) !== 'MZ') throw new Error('Cannot read the PE file: no MZ header');
  const signature = pe.readUInt32LE(0x3c);
  if (pe.toString('latin1', signature, signature + 4) !== 'PE\0\0') {
    throw new Error('Cannot read the PE file: no PE signature');
  }
  const optionalHeader = signature + 24;
  const isPe32Plus = pe.readUInt16LE(optionalHeader) === 0x20b;
  return { optionalHeader, dataDirectories: optionalHeader + (isPe32Plus ? 112 : 96) };
}
