// Readers for what the Windows build makes, written apart from build/ so the
// tests check the output against the formats, not against the build's own
// idea of them: a PE file (Microsoft's PE/COFF specification) and Node's
// single-executable blob (src/node_sea.cc of Node 20).

/** The parts of a PE file's headers the tests look at. */
export interface PeFile {
  machine: number;
  characteristics: number;
  /** 0x20b for PE32+. */
  optionalMagic: number;
  subsystem: number;
  checksum: number;
  /** File offset of the checksum field. */
  checksumOffset: number;
  sections: { name: string; virtualAddress: number; virtualSize: number; rawOffset: number; rawSize: number }[];
  /** Data directories by index: [address, size]. */
  directories: [number, number][];
}

/** Reads the headers of a PE file; throws when it is not one. */
export function readPe(file: Buffer): PeFile {
  if (file.toString('latin1', 0, 2) !== 'MZ') throw new Error('no MZ header');
  const signature = file.readUInt32LE(0x3c);
  if (file.toString('latin1', signature, signature + 4) !== 'PE\0\0') throw new Error('no PE signature');

  const coff = signature + 4;
  const sectionCount = file.readUInt16LE(coff + 2);
  const optionalSize = file.readUInt16LE(coff + 16);
  const optional = coff + 20;
  const optionalMagic = file.readUInt16LE(optional);
  const directoriesAt = optional + (optionalMagic === 0x20b ? 112 : 96);
  const directoryCount = file.readUInt32LE(directoriesAt - 4);

  const sections = [];
  for (let i = 0; i < sectionCount; i++) {
    const at = optional + optionalSize + i * 40;
    sections.push({
      name: file.toString('latin1', at, at + 8).replace(/\0.*$/s, ''),
      virtualSize: file.readUInt32LE(at + 8),
      virtualAddress: file.readUInt32LE(at + 12),
      rawSize: file.readUInt32LE(at + 16),
      rawOffset: file.readUInt32LE(at + 20),
    });
  }

  const directories: [number, number][] = [];
  for (let i = 0; i < directoryCount; i++) {
    directories.push([file.readUInt32LE(directoriesAt + i * 8), file.readUInt32LE(directoriesAt + i * 8 + 4)]);
  }

  return {
    machine: file.readUInt16LE(coff),
    characteristics: file.readUInt16LE(coff + 18),
    optionalMagic,
    subsystem: file.readUInt16LE(optional + 68),
    checksum: file.readUInt32LE(optional + 64),
    checksumOffset: optional + 64,
    sections,
    directories,
  };
}

/** The file offset of a relative virtual address. */
export function fileOffset(pe: PeFile, rva: number): number {
  for (const s of pe.sections) {
    if (rva >= s.virtualAddress && rva < s.virtualAddress + Math.max(s.virtualSize, s.rawSize)) {
      return s.rawOffset + rva - s.virtualAddress;
    }
  }
  throw new Error(`no section holds address ${rva}`);
}

const RESOURCE_DIRECTORY = 2;
const HIGH_BIT = 0x80000000;

/**
 * The data of a resource found by type id and name, or undefined. Resource
 * directories nest three deep: type, name, language; names are
 * length-prefixed UTF-16 strings.
 */
export function findResource(file: Buffer, pe: PeFile, typeId: number, name: string): Buffer | undefined {
  const [rva] = pe.directories[RESOURCE_DIRECTORY] ?? [0];
  if (!rva) return undefined;
  const base = fileOffset(pe, rva);

  const entries = (dirOffset: number) => {
    const at = base + dirOffset;
    const count = file.readUInt16LE(at + 12) + file.readUInt16LE(at + 14);
    return Array.from({ length: count }, (_, i) => {
      const nameField = file.readUInt32LE(at + 16 + i * 8);
      const target = file.readUInt32LE(at + 20 + i * 8);
      let key: number | string = nameField;
      if (nameField & HIGH_BIT) {
        const s = base + (nameField & ~HIGH_BIT);
        key = file.toString('utf16le', s + 2, s + 2 + file.readUInt16LE(s) * 2);
      }
      return { key, target };
    });
  };

  const type = entries(0).find((e) => e.key === typeId);
  if (!type || !(type.target & HIGH_BIT)) return undefined;
  const named = entries(type.target & ~HIGH_BIT).find((e) => e.key === name);
  if (!named || !(named.target & HIGH_BIT)) return undefined;
  const [language] = entries(named.target & ~HIGH_BIT);
  if (!language || language.target & HIGH_BIT) return undefined;

  const data = base + language.target;
  const start = fileOffset(pe, file.readUInt32LE(data));
  return file.subarray(start, start + file.readUInt32LE(data + 4));
}

/** The PE checksum as Windows computes it: 16-bit sums with carry, plus the length. */
export function peChecksum(file: Buffer, pe: PeFile): number {
  let sum = 0;
  for (let i = 0; i < file.length; i += 2) {
    if (i === pe.checksumOffset || i === pe.checksumOffset + 2) continue;
    sum += i + 1 < file.length ? file.readUInt16LE(i) : file[i]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ((sum & 0xffff) + (sum >>> 16) + file.length) >>> 0;
}

/** What a single-executable blob holds. */
export interface SeaBlob {
  flags: number;
  mainScript: string;
  codeCacheBytes: number;
  assets: Map<string, Buffer>;
}

/** Node's single-executable blob magic. */
export const SEA_MAGIC = 0x0143da20;

/** Bits of {@link SeaBlob.flags}. */
export const SeaFlag = { disableWarning: 1, useSnapshot: 2, useCodeCache: 4, includeAssets: 8 } as const;

/** Reads a blob: magic, flags, then length-prefixed (u64) code path, script, code cache and assets. */
export function readSeaBlob(blob: Buffer): SeaBlob {
  if (blob.readUInt32LE(0) !== SEA_MAGIC) throw new Error('no SEA magic');
  const flags = blob.readUInt32LE(4);
  let at = 8;
  const next = () => {
    const length = Number(blob.readBigUInt64LE(at));
    const bytes = blob.subarray(at + 8, at + 8 + length);
    at += 8 + length;
    return bytes;
  };

  next(); // the code path, used as the script's file name
  const mainScript = next().toString('utf8');
  const codeCacheBytes = flags & SeaFlag.useCodeCache ? next().length : 0;
  const assets = new Map<string, Buffer>();
  if (flags & SeaFlag.includeAssets) {
    const count = Number(blob.readBigUInt64LE(at));
    at += 8;
    for (let i = 0; i < count; i++) {
      const key = next().toString('utf8');
      assets.set(key, next());
    }
  }
  return { flags, mainScript, codeCacheBytes, assets };
}
